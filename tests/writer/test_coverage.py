"""The writer records ``range.completed`` markers in the coverage ledger (contract C1), on a real PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from services.writer.persist import write_batch
from tests.support.factories import T0, message_event, range_marker
from tgpipe.db.coverage import chat_coverage
from tgpipe.ops.verify import table_digest


async def test_contract_C1_marker_is_recorded_with_its_messages_in_one_transaction(db):
    messages = [message_event(10, i, text=f"m{i}") for i in (3, 4, 7)]
    marker = range_marker(10, 3, 7, first_date=T0, last_date=T0 + timedelta(hours=1))
    async with db.acquire() as conn:
        await write_batch(conn, [*messages, marker])
        coverage = await chat_coverage(conn, 10)
        assert await conn.fetchval("SELECT event_id FROM coverage") == marker.event_id
    assert coverage.ids == [(3, 7)]
    assert coverage.dates == [(T0, T0 + timedelta(hours=1))]
    assert [(r.first_id, r.last_id, r.source) for r in coverage.ranges] == [(3, 7, "export")]


async def test_contract_C1_a_failed_batch_records_no_coverage(db):
    bad = message_event(10, 2, text="nul \x00 byte")  # PostgreSQL text cannot hold NUL: the batch rolls back
    async with db.acquire() as conn:
        try:
            await write_batch(conn, [message_event(10, 1), bad, range_marker(10, 1, 2)])
        except Exception:  # noqa: BLE001 - asserted below: nothing of the batch is there
            pass
        assert await conn.fetchval("SELECT count(*) FROM coverage") == 0
        assert await conn.fetchval("SELECT count(*) FROM messages") == 0


async def test_marker_of_a_chat_without_a_row_creates_the_chat_first(db):
    async with db.acquire() as conn:
        await write_batch(conn, [range_marker(77, 1, 5, title="only a marker")])
        chat = await conn.fetchrow("SELECT type, title FROM channels WHERE channel_id = 77")
        assert (chat["type"], chat["title"]) == ("public_channel", "only a marker")
        assert (await chat_coverage(conn, 77)).ids == [(1, 5)]


async def test_a_marker_never_rolls_back_a_newer_title(db):
    # The message's chat was shown at T0 + 1 day; the marker's range ends at T0: its title is older.
    newer = message_event(10, 1, title="renamed")
    newer = newer.model_copy(update={"payload": newer.payload.model_copy(
        update={"observed_at": T0 + timedelta(days=1)})})
    async with db.acquire() as conn:
        await write_batch(conn, [newer])
        await write_batch(conn, [range_marker(10, 1, 1, title="original")])
        assert await conn.fetchval("SELECT title FROM channels WHERE channel_id = 10") == "renamed"


async def test_duplicate_marker_adds_nothing(db):
    marker = range_marker(10, 1, 9)
    async with db.acquire() as conn:
        await write_batch(conn, [message_event(10, 1), marker, marker])
        first = await table_digest(conn, include_volatile=True)
        await write_batch(conn, [marker])  # a redelivery or a replay
        assert await table_digest(conn, include_volatile=True) == first
        assert await conn.fetchval("SELECT count(*) FROM coverage") == 1


async def test_holes_between_markers(db):
    async with db.acquire() as conn:
        await write_batch(conn, [range_marker(10, 1, 10, last_date=T0 + timedelta(days=1)),
                                 range_marker(10, 20, 30, first_date=T0 + timedelta(days=3),
                                              last_date=T0 + timedelta(days=4))])
        coverage = await chat_coverage(conn, 10)
    assert coverage.id_holes == [(11, 19)]
    assert coverage.date_holes == [(T0 + timedelta(days=1), T0 + timedelta(days=3))]
