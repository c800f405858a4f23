"""PostgreSQL trouble under a running writer: a killed backend, an outage, a locked row.

Transient errors are retried with backoff inside the batch (never dead-lettered), no offset is
committed until the batch is in, and the writer recovers without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.support.factories import message_event
from tests.support.records import peek
from tests.faults.harness import committed_count, committed_offsets, publish, text_payloads
from tests.support.proxy import TcpProxy
from tests.support.waiting import eventually, persisted
from tgpipe.runtime.inprocess import running_services
from tgpipe.runtime.progress import ProgressTracker

pytestmark = pytest.mark.faults

_WAITING = """
SELECT pid FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO messages%'"""


@contextlib.asynccontextmanager
async def _locked(db: asyncpg.Pool, channel_id: int, message_id: int) -> AsyncIterator[None]:
    """Hold ``SELECT … FOR UPDATE`` on one message row (another transaction) until exit."""
    async with db.acquire() as conn, conn.transaction():
        await conn.execute("SELECT 1 FROM messages WHERE channel_id = $1 AND message_id = $2 FOR UPDATE",
                           channel_id, message_id)
        yield


async def _waiting_writer(db: asyncpg.Pool, other_than: int | None = None) -> int:
    """The pid of the writer's backend once it waits for the row lock."""
    pids: list[int] = []

    async def waiting() -> bool:
        async with db.acquire() as conn:
            pids[:] = [p for p in await conn.fetchval(f"SELECT array_agg(pid) FROM ({_WAITING}) w") or ()
                       if p != other_than]
        return bool(pids)

    await eventually(waiting, 30, "the writer waiting for the locked row")
    return pids[0]


async def _count(db: asyncpg.Pool, sql: str = "SELECT count(*) FROM messages") -> int:
    async with db.acquire() as conn:
        return await conn.fetchval(sql)


def _offsets_committed(settings, count: int):
    async def check() -> bool:
        return await committed_count(settings, settings.writer_group, settings.topic_messages) == count
    return check


def _retries(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "tgpipe.kafka.consume" and r.getMessage().startswith("retrying")]


async def _blocked_then_released(settings, db, checker, on_blocked) -> None:
    """Message 1 is written; its row is then locked while an edit of it and 9 more messages arrive.
    ``on_blocked(pid)`` runs while the writer waits; then the lock is released and all must land."""
    first = message_event(100, 1, text="original").payload
    rest = [message_event(100, 1, text="edited", edited_after_s=10).payload] + text_payloads(9, channels=1, start=2)
    async with running_services(settings, ProgressTracker(), media=False) as collector:
        await publish(settings, checker, [first], source="first", broker=collector)
        await eventually(_offsets_committed(settings, 1), 30, "message 1 written and its offset committed")
        offsets = await committed_offsets(settings, settings.writer_group, settings.topic_messages)
        async with _locked(db, 100, 1):
            await publish(settings, checker, rest, source="rest", broker=collector)
            await on_blocked(await _waiting_writer(db))
            # Still blocked: nothing of the batch written, no offset committed, nothing dead-lettered.
            assert await _count(db) == 1
            assert await committed_offsets(settings, settings.writer_group, settings.topic_messages) == offsets
            assert await peek(settings, settings.topic_dead_letter) == []
        await eventually(persisted(db, 10), 30, "the batch persisted after the lock's release")
    assert await _count(db, "SELECT text FROM messages WHERE message_id = 1") == "edited"
    report = await checker.check(settings, db)
    assert report.problems() == []


async def test_contract_E2_locked_row_writer_waits_then_succeeds(fault_settings, db, checker):
    await _blocked_then_released(fault_settings, db, checker, lambda pid: asyncio.sleep(1.5))


async def test_contract_E2_lock_timeout_is_retried_not_dead_lettered(fault_settings, db, checker, caplog):
    # The database gives up on lock waits after 200 ms (55P03 lock_not_available): the writer
    # must retry the batch until the lock is released, not dead-letter its records.
    async with db.acquire() as conn:
        await conn.execute("DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET lock_timeout = 200', "
                           "current_database()); END $$")

    async def while_blocked(pid: int) -> None:
        await eventually(lambda: len(_retries(caplog)) >= 2, 30, "two retries")

    caplog.set_level(logging.WARNING, "tgpipe.kafka.consume")
    await _blocked_then_released(fault_settings, db, checker, while_blocked)


async def test_contract_E1_backend_terminated_mid_transaction_is_retried(fault_settings, db, checker, caplog):
    async def terminate(pid: int) -> None:
        async with db.acquire() as conn:
            assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
        # The batch is retried on a new connection, which waits for the lock again.
        await _waiting_writer(db, other_than=pid)
        assert any("attempt 2" in r.getMessage() for r in _retries(caplog))

    caplog.set_level(logging.WARNING, "tgpipe.kafka.consume")
    await _blocked_then_released(fault_settings, db, checker, terminate)


async def test_contract_E1_database_unreachable_retried_with_backoff_no_offset_commit(
        fault_settings, db, checker, caplog):
    proxy = await TcpProxy.for_database(fault_settings.database_url).open()
    # Retries give up after 1.5 s, so the 4 s outage also runs the give-up path: the batch is
    # sought back and redelivered (never committed past), and retried again.
    settings = fault_settings.model_copy(update={"database_url": proxy.url_for(fault_settings.database_url),
                                                 "transient_retry_timeout_s": 1.5})
    caplog.set_level(logging.WARNING, "tgpipe.kafka.consume")
    try:
        async with running_services(settings, ProgressTracker(), media=False) as collector:
            await publish(settings, checker, text_payloads(10), source="before", broker=collector)
            await eventually(_offsets_committed(settings, 10), 30, "the first batch written, offsets committed")
            offsets = await committed_offsets(settings, settings.writer_group, settings.topic_messages)

            await proxy.close()  # PostgreSQL unreachable: live connections reset, new ones refused
            await publish(settings, checker, text_payloads(10, start=11), source="during", broker=collector)
            # Each redelivery starts over at attempt 2: wait for two of them.
            def windows() -> int:
                return sum("(attempt 2)" in r.getMessage() for r in _retries(caplog))

            await eventually(lambda: windows() >= 2, 30, "the batch given up on, redelivered and retried")
            retries = [r.getMessage() for r in _retries(caplog)]
            # Exponential backoff (0.1 s doubling, plus jitter): at most 5 attempts in a 1.5 s window.
            assert len(retries) <= 5 * windows(), retries
            assert await _count(db) == 10
            assert await committed_offsets(settings, settings.writer_group, settings.topic_messages) == offsets
            assert await peek(settings, settings.topic_dead_letter) == []

            await proxy.open()  # back on the same address: the same writer recovers by itself
            await eventually(persisted(db, 20), 30, "the second batch persisted after the outage")
        assert await committed_offsets(settings, settings.writer_group, settings.topic_messages) != offsets
    finally:
        await proxy.close()
    report = await checker.check(settings, db)
    assert report.problems() == []
