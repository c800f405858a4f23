"""Contract C1 under crashes: a real ``tgpipe writer`` killed around a range-complete marker.

A chat's messages, then a marker covering them, then more messages and a second marker, on one
partition; the writer process is SIGKILLed right after the commit of the batch holding the first
range's messages (before the marker's batch), or inside the transaction of the second marker's
batch (after the first marker's commit). At the kill, no coverage row may exist for a range one
of whose messages is missing; after an in-process writer resumes, every range is recorded.
"""

from __future__ import annotations

import asyncio

import pytest

from schemas import MessageUpsertedPayload, RangeCompleted
from tests.faults.checker import Checker
from tests.faults.conftest import BATCH
from tests.faults.harness import publish, text_payloads
from tests.support.broker import collector
from tests.support.factories import T0, range_marker
from tests.support.processes import SQL_EXECUTE, WRITE_BATCH, Fault, service_process
from tests.support.waiting import eventually
from tgpipe.kafka.broker import publish_event
from tgpipe.runtime.inprocess import running_services
from tgpipe.runtime.progress import ProgressTracker

pytestmark = pytest.mark.faults

CHAT = 100
_COVERED = "SELECT lower(message_ids), upper(message_ids) - 1 FROM coverage WHERE channel_id = $1 ORDER BY 1"


async def _publish_ranges(settings, checker: Checker, ranges: list[list[MessageUpsertedPayload]]) -> list[RangeCompleted]:
    """Each range's messages, then (acknowledged after them) its marker, all of chat :data:`CHAT`."""
    markers = []
    async with collector(settings) as broker:
        for payloads in ranges:
            await publish(settings, checker, payloads, source=f"range-{len(markers)}", broker=broker)
            ids = [p.message.message_id for p in payloads]
            markers.append(range_marker(CHAT, min(ids), max(ids), first_date=T0, last_date=T0))
            await (await publish_event(broker, settings.topic_messages, markers[-1]))
    return markers


async def _state_after_kill(settings, db, tmp_path, fault: Fault) -> tuple[set[int], list[tuple[int, int]]]:
    async with service_process(settings, tmp_path / "writer.log", fault=fault) as writer:
        assert await writer.wait(timeout=60) == -9, writer.log()
    assert f"fault: kill at call {fault.nth} of {fault.target}" in writer.log()
    async with db.acquire() as conn:
        ids = {r[0] for r in await conn.fetch("SELECT message_id FROM messages WHERE channel_id = $1", CHAT)}
        covered = [tuple(r) for r in await conn.fetch(_COVERED, CHAT)]
    return ids, covered


async def _resume_until_recorded(settings, db, ranges: list[list[MessageUpsertedPayload]]) -> None:
    """Run the writer in this process until every range's messages and coverage row are there."""
    ids = {p.message.message_id for r in ranges for p in r}
    expected = [(min(p.message.message_id for p in r), max(p.message.message_id for p in r)) for r in ranges]

    async def done() -> bool:
        async with db.acquire() as conn:
            stored = {r[0] for r in await conn.fetch("SELECT message_id FROM messages WHERE channel_id = $1", CHAT)}
            return stored == ids and [tuple(r) for r in await conn.fetch(_COVERED, CHAT)] == expected

    async with asyncio.timeout(90), running_services(settings, ProgressTracker(), media=False):
        await eventually(done, 60, f"messages and coverage {expected} recorded")


def _assert_no_incomplete_range(ids: set[int], covered: list[tuple[int, int]],
                                ranges: list[list[MessageUpsertedPayload]]) -> None:
    for first, last in covered:
        published = {p.message.message_id for r in ranges for p in r if first <= p.message.message_id <= last}
        assert published <= ids, f"range {first}..{last} recorded while {sorted(published - ids)} are missing"


async def test_contract_C1_killed_between_the_messages_commit_and_the_markers_batch(
        fault_settings, db, tmp_path, checker):
    settings = fault_settings
    ranges = [text_payloads(BATCH, channels=1)]  # exactly one writer batch; the marker is the next record
    await _publish_ranges(settings, checker, ranges)
    ids, covered = await _state_after_kill(settings, db, tmp_path, Fault(WRITE_BATCH, nth=1, when="after"))
    assert ids == set(range(1, BATCH + 1)) and covered == []  # the messages are there, the range is not yet

    await _resume_until_recorded(settings, db, ranges)
    assert (await checker.check(settings, db)).problems() == []


async def test_contract_C1_killed_inside_the_second_markers_transaction(fault_settings, db, tmp_path, checker):
    settings = fault_settings
    ranges = [text_payloads(5, channels=1), text_payloads(2 * BATCH, channels=1, start=6)]
    await _publish_ranges(settings, checker, ranges)
    # Killed as the second marker's row is about to be written: its batch (with some of its
    # range's messages) rolls back; the first marker's batch was committed before.
    ids, covered = await _state_after_kill(settings, db, tmp_path,
                                           Fault(SQL_EXECUTE, nth=2, match="INSERT INTO coverage"))
    assert covered == [(1, 5)] and set(range(1, 6)) <= ids < set(range(1, 2 * BATCH + 6))
    _assert_no_incomplete_range(ids, covered, ranges)

    await _resume_until_recorded(settings, db, ranges)  # (1, 5) and (6, 2 * BATCH + 5)
    assert (await checker.check(settings, db)).problems() == []
