"""The writer killed (SIGKILL, a real process) at each step of its batch: nothing is lost.

Each test runs ``tgpipe writer`` as a subprocess with a fault injected at an exact point of the
second (or first) batch, waits for it to die, then lets an in-process writer and media service
finish from the committed offsets, and runs the checker.
"""

from __future__ import annotations

import signal
import time

import pytest

from tests.faults.checker import Checker, peek
from tests.faults.harness import (
    OFFSET_COMMIT,
    PUBLISH_COMMITTED,
    SQL_EXECUTE,
    UPSERT_MESSAGES,
    Fault,
    committed_offsets,
    keys_of,
    publish,
    run_until,
    service_process,
)

pytestmark = pytest.mark.faults


async def _killed_writer(settings, tmp_path, fault: Fault) -> str:
    """Run ``tgpipe writer`` with ``fault`` until the fault kills it; return its output."""
    async with service_process(settings, tmp_path / "writer.log", fault=fault) as writer:
        assert await writer.wait(timeout=60) == -9, writer.log()
        log = writer.log()
    assert f"fault: kill at call {fault.nth} of {fault.target}" in log
    return log


async def _committed_keys(settings) -> set[tuple[int, int]]:
    return {(e.payload.channel_id, e.payload.message_id)
            for e in map(Checker.decode_committed, await peek(settings, settings.topic_committed))}


async def test_contract_W1_killed_after_commit_before_offset_commit_reemits_events(
        fault_settings, db, tmp_path, checker, photo_payloads, media_reads):
    settings, payloads = fault_settings, photo_payloads(40)
    await publish(settings, checker, payloads, source="w1")

    await _killed_writer(settings, tmp_path, Fault(OFFSET_COMMIT, nth=2))
    # Killed after batch 2's transaction and its acknowledged committed events, before its offsets.
    async with db.acquire() as conn:
        persisted = {tuple(r) for r in await conn.fetch("SELECT channel_id, message_id FROM messages")}
    assert len(persisted) == 20
    assert await _committed_keys(settings) == persisted

    await run_until(settings, db, keys_of(payloads))
    report = await checker.check(settings, db)
    assert report.problems(allow_committed_duplicates=True) == []
    # At-least-once events: exactly the killed batch was re-emitted, once more.
    assert len(report.committed_duplicates) == 10 and set(report.committed_duplicates.values()) == {2}
    # Effectively-once media: every photo read (and stored) once despite the re-emitted events.
    assert media_reads == {f"photos/{i}.jpg": 1 for i in range(1, 41)}


async def test_contract_W2_killed_before_publishing_committed_events_redelivery_publishes_them(
        fault_settings, db, tmp_path, checker, photo_payloads, media_reads):
    settings, payloads = fault_settings, photo_payloads(40)
    await publish(settings, checker, payloads, source="w2")

    await _killed_writer(settings, tmp_path, Fault(PUBLISH_COMMITTED, nth=2))
    async with db.acquire() as conn:
        persisted = {tuple(r) for r in await conn.fetch("SELECT channel_id, message_id FROM messages")}
    committed = await _committed_keys(settings)
    # Batch 2 is in the database, but no committed event says so yet: media cannot see it.
    assert len(persisted) == 20 and len(committed) == 10 and committed < persisted
    offsets = await committed_offsets(settings, settings.writer_group, settings.topic_messages)
    assert sum(o for o in offsets.values() if o is not None) == 10  # batch 1 only

    await run_until(settings, db, keys_of(payloads))
    report = await checker.check(settings, db)
    assert report.problems() == []  # nothing lost, every message has its media row, no duplicate
    assert media_reads == {f"photos/{i}.jpg": 1 for i in range(1, 41)}


async def test_contract_W3_failure_mid_transaction_rolls_back_then_completes(
        fault_settings, db, tmp_path, checker, photo_payloads):
    settings, payloads = fault_settings, photo_payloads(30)
    await publish(settings, checker, payloads, source="w3")

    # Killed inside the first batch's transaction: channels and senders upserted, messages not yet.
    await _killed_writer(settings, tmp_path, Fault(SQL_EXECUTE, nth=1, match=UPSERT_MESSAGES))
    async with db.acquire() as conn:
        counts = [await conn.fetchval(f"SELECT count(*) FROM {t}") for t in ("channels", "senders", "messages")]
    assert counts == [0, 0, 0]  # rolled back, parents included
    assert await _committed_keys(settings) == set()

    await run_until(settings, db, keys_of(payloads))
    report = await checker.check(settings, db)
    assert report.problems() == []


async def test_contract_W7_sigterm_mid_batch_finishes_the_batch_and_exits_in_bound(
        fault_settings, db, tmp_path, checker, photo_payloads):
    settings, payloads = fault_settings, photo_payloads(60)
    await publish(settings, checker, payloads, source="w7")

    # SIGTERM arrives while batch 2 is inside its transaction (paused there for 2 s).
    pause = Fault(SQL_EXECUTE, nth=2, match=UPSERT_MESSAGES, action="pause", seconds=2.0)
    async with service_process(settings, tmp_path / "writer.log", fault=pause) as writer:
        await writer.wait_for_log(f"fault: pause at call 2 of {SQL_EXECUTE}", timeout=60)
        signalled = time.monotonic()
        writer.signal(signal.SIGTERM)
        assert await writer.wait(timeout=25) == 0, writer.log()
        shutdown_s = time.monotonic() - signalled
    # Bounded: the paused batch (2 s) is finished, no further batch is started.
    assert shutdown_s < 6, f"shutdown took {shutdown_s:.1f} s:\n{writer.log()}"

    async with db.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM messages") == 20  # batches 1 and 2, nothing more
    offsets = await committed_offsets(settings, settings.writer_group, settings.topic_messages)
    assert sum(o for o in offsets.values() if o is not None) == 20  # batch 2's offsets committed before exit

    await run_until(settings, db, keys_of(payloads))
    report = await checker.check(settings, db)
    assert report.problems() == []  # the clean path: nothing lost, no committed event duplicated


async def test_contract_W7_sigterm_mid_batch_media_service_finishes_the_batch(
        fault_settings, db, tmp_path, checker, photo_payloads):
    settings, payloads = fault_settings, photo_payloads(40)
    await publish(settings, checker, payloads, source="w7m")
    await run_until(settings, db, keys_of(payloads), media=False)

    # SIGTERM while batch 2 holds no database connection (between its two database steps).
    pause = Fault("services.media.app:pending_events", nth=2, action="pause", when="after", seconds=2.0)
    async with service_process(settings, tmp_path / "media.log", command="media", fault=pause) as media:
        await media.wait_for_log("fault: pause at call 2", timeout=60)
        signalled = time.monotonic()
        media.signal(signal.SIGTERM)
        assert await media.wait(timeout=25) == 0, media.log()
        shutdown_s = time.monotonic() - signalled
    assert shutdown_s < 6, f"shutdown took {shutdown_s:.1f} s:\n{media.log()}"
    async with db.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM media") == 20

    await run_until(settings, db, keys_of(payloads))
    report = await checker.check(settings, db)
    assert report.problems() == []
