"""The writer killed (SIGKILL, a real process) at each step of its batch: nothing is lost.

Each test runs ``tgpipe writer`` as a subprocess with a fault injected at an exact point of the
second (or first) batch, waits for it to die, then lets an in-process writer and media service
finish from the committed offsets, and runs the checker.
"""

from __future__ import annotations

import signal
import time

import pytest

from tests.faults.checker import Checker
from tests.support.records import peek
from tests.faults.harness import committed_count, keys_of, publish, run_until
from tests.support.processes import Fault, OFFSET_COMMIT, PUBLISH_COMMITTED, SQL_EXECUTE, UPSERT_MESSAGES, service_process

pytestmark = pytest.mark.faults


async def _kill_writer(settings, db, tmp_path, checker, payloads, fault: Fault) -> tuple[set, set]:
    """Publish ``payloads`` and run ``tgpipe writer`` until ``fault`` kills it; return the messages
    then in the database and those with a committed event on the topic."""
    await publish(settings, checker, payloads, source=fault.target)
    async with service_process(settings, tmp_path / "writer.log", fault=fault) as writer:
        assert await writer.wait(timeout=60) == -9, writer.log()
    assert f"fault: kill at call {fault.nth} of {fault.target}" in writer.log()
    async with db.acquire() as conn:
        persisted = {tuple(r) for r in await conn.fetch("SELECT channel_id, message_id FROM messages")}
    committed = {(e.payload.channel_id, e.payload.message_id)
                 for e in map(Checker.decode_committed, await peek(settings, settings.topic_committed))}
    return persisted, committed


async def _sigterm_at(settings, tmp_path, command: str, pause: Fault) -> None:
    """Run ``tgpipe COMMAND`` until it pauses at ``pause`` (2 s) mid-batch, SIGTERM it there: it
    must exit 0 within 6 s, the batch finished and no further batch started."""
    async with service_process(settings, tmp_path / f"{command}.log", command=command, fault=pause) as service:
        await service.wait_for_log(f"fault: pause at call {pause.nth} of {pause.target}", timeout=60)
        signalled = time.monotonic()
        service.signal(signal.SIGTERM)
        assert await service.wait(timeout=25) == 0, service.log()
        shutdown_s = time.monotonic() - signalled
    assert shutdown_s < 6, f"shutdown took {shutdown_s:.1f} s:\n{service.log()}"


async def test_contract_W1_killed_after_commit_before_offset_commit_reemits_events(
        fault_settings, db, tmp_path, checker, photo_payloads, media_reads):
    settings, payloads = fault_settings, photo_payloads(40)
    # Killed after batch 2's transaction and its acknowledged committed events, before its offsets.
    persisted, committed = await _kill_writer(settings, db, tmp_path, checker, payloads,
                                              Fault(OFFSET_COMMIT, nth=2))
    first_batch = await committed_count(settings, settings.writer_group, settings.topic_messages)
    assert 0 < first_batch < len(persisted) and committed == persisted

    await run_until(settings, db, keys_of(payloads))
    report = await checker.check(settings, db)
    assert report.problems(allow_committed_duplicates=True) == []
    # At-least-once events: exactly the killed batch was re-emitted, once more.
    assert len(report.committed_duplicates) == len(persisted) - first_batch
    assert set(report.committed_duplicates.values()) == {2}
    # Effectively-once media: every photo read (and stored) once despite the re-emitted events.
    assert media_reads == {f"photos/{i}.jpg": 1 for i in range(1, 41)}


async def test_contract_W2_killed_before_publishing_committed_events_redelivery_publishes_them(
        fault_settings, db, tmp_path, checker, photo_payloads, media_reads):
    settings, payloads = fault_settings, photo_payloads(40)
    persisted, committed = await _kill_writer(settings, db, tmp_path, checker, payloads,
                                              Fault(PUBLISH_COMMITTED, nth=2))
    # Batch 2 is in the database, but no committed event says so yet: media cannot see it; and
    # only batch 1's offsets are committed.
    assert committed and committed < persisted
    assert await committed_count(settings, settings.writer_group, settings.topic_messages) == len(committed)

    await run_until(settings, db, keys_of(payloads))
    report = await checker.check(settings, db)
    assert report.problems() == []  # nothing lost, every message has its media row, no duplicate
    assert media_reads == {f"photos/{i}.jpg": 1 for i in range(1, 41)}


async def test_contract_W3_failure_mid_transaction_rolls_back_then_completes(
        fault_settings, db, tmp_path, checker, photo_payloads):
    settings, payloads = fault_settings, photo_payloads(30)
    # Killed inside the first batch's transaction: channels and senders upserted, messages not yet.
    persisted, committed = await _kill_writer(settings, db, tmp_path, checker, payloads,
                                              Fault(SQL_EXECUTE, nth=1, match=UPSERT_MESSAGES))
    async with db.acquire() as conn:
        parents = [await conn.fetchval(f"SELECT count(*) FROM {t}") for t in ("channels", "senders")]
    assert persisted == committed == set() and parents == [0, 0]  # rolled back, parents included

    await run_until(settings, db, keys_of(payloads))
    report = await checker.check(settings, db)
    assert report.problems() == []


async def test_contract_W7_sigterm_mid_batch_finishes_the_batch_and_exits_in_bound(
        fault_settings, db, tmp_path, checker, photo_payloads):
    settings, payloads = fault_settings, photo_payloads(60)
    await publish(settings, checker, payloads, source="w7")

    # SIGTERM arrives while batch 2 is inside its transaction (paused there for 2 s).
    await _sigterm_at(settings, tmp_path, "writer",
                      Fault(SQL_EXECUTE, nth=2, match=UPSERT_MESSAGES, action="pause", seconds=2.0))
    # Batch 2's offsets were committed before the exit, and no batch 3 was started.
    async with db.acquire() as conn:
        written = await conn.fetchval("SELECT count(*) FROM messages")
    assert written == await committed_count(settings, settings.writer_group, settings.topic_messages)
    assert written < len(payloads)

    await run_until(settings, db, keys_of(payloads))
    report = await checker.check(settings, db)
    assert report.problems() == []  # the clean path: nothing lost, no committed event duplicated


async def test_contract_W7_sigterm_mid_batch_media_service_finishes_the_batch(
        fault_settings, db, tmp_path, checker, photo_payloads):
    settings, payloads = fault_settings, photo_payloads(40)
    await publish(settings, checker, payloads, source="w7m")
    await run_until(settings, db, keys_of(payloads), media=False)

    # SIGTERM while batch 2 holds no database connection (between its two database steps).
    await _sigterm_at(settings, tmp_path, "media",
                      Fault("services.media.app:plan_media", nth=2, action="pause", when="after", seconds=2.0))
    async with db.acquire() as conn:
        stored = await conn.fetchval("SELECT count(*) FROM media")
    assert 0 < stored == await committed_count(settings, settings.media_group, settings.topic_committed) < 40

    await run_until(settings, db, keys_of(payloads))
    report = await checker.check(settings, db)
    assert report.problems() == []
