"""The writer's transaction against a real PostgreSQL: parents first, idempotent, newest edit wins."""

from __future__ import annotations

import asyncpg
import pytest

from services.writer.persist import write_batch
from tests.support.factories import message_event
from tgpipe.ops.verify import table_digest


async def test_batch_creates_parents_before_children(db):
    # Nothing exists yet: channel 10, senders 7 and 8 all come from the events themselves.
    events = [message_event(10, 1, text="a", sender=7), message_event(10, 2, text="b", sender=8),
              message_event(11, 1, text="c", sender=None)]
    async with db.acquire() as conn:
        await write_batch(conn, events)
        assert await conn.fetchval("SELECT count(*) FROM channels") == 2
        assert await conn.fetchval("SELECT count(*) FROM senders") == 2
        rows = await conn.fetch("SELECT channel_id, message_id, text, sender_id FROM messages ORDER BY 1, 2")
    assert [tuple(r) for r in rows] == [(10, 1, "a", 7), (10, 2, "b", 8), (11, 1, "c", None)]


async def test_foreign_keys_are_enforced(db):
    async with db.acquire() as conn:
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute("INSERT INTO media (channel_id, message_id, kind, status) VALUES (1, 1, 'photo', 'missing')")


async def test_replaying_a_batch_changes_nothing(db):
    events = [message_event(10, i, text=f"t{i}", edited_after_s=i % 2 or None) for i in range(1, 30)]
    async with db.acquire() as conn:
        await write_batch(conn, events)
        first = await table_digest(conn)
        await write_batch(conn, events)
        await write_batch(conn, list(reversed(events)))
        assert await table_digest(conn) == first


async def test_failed_batch_writes_nothing(db):
    good = message_event(10, 1, text="fine")
    bad = message_event(10, 2, text="nul \x00 byte")  # PostgreSQL text cannot hold NUL
    async with db.acquire() as conn:
        with pytest.raises(asyncpg.PostgresError):
            await write_batch(conn, [good, bad])
        assert await conn.fetchval("SELECT count(*) FROM messages") == 0
        assert await conn.fetchval("SELECT count(*) FROM channels") == 0


@pytest.mark.parametrize("order", ["in order", "newest first", "same batch"])
async def test_newest_edit_wins_in_any_order(db, order):
    original = message_event(10, 1, text="v0")
    edit1 = message_event(10, 1, text="v1", edited_after_s=60)
    edit2 = message_event(10, 1, text="v2", edited_after_s=120)
    batches = {
        "in order": [[original], [edit1], [edit2]],
        "newest first": [[edit2], [original], [edit1]],
        "same batch": [[edit2, original, edit1]],
    }[order]
    async with db.acquire() as conn:
        for batch in batches:
            await write_batch(conn, batch)
        row = await conn.fetchrow("SELECT text, edit_date FROM messages WHERE channel_id = 10 AND message_id = 1")
    assert row["text"] == "v2"
    assert row["edit_date"] == edit2.payload.message.edit_date


async def test_the_same_event_twice_in_one_call_is_written_once(db):
    event = message_event(10, 1, text="once")
    async with db.acquire() as conn:
        await write_batch(conn, [event, event])
        assert await conn.fetchval("SELECT count(*) FROM messages") == 1
        assert await conn.fetchval("SELECT count(*) FROM message_versions") == 1


async def test_a_permanent_table_named_like_the_stage_is_never_used(db):
    # A search_path that puts pg_temp last would let an unqualified name find this table first.
    async with db.acquire() as conn:
        await conn.execute("CREATE TABLE public.writer_stage_v1 (unrelated int)")
        await conn.execute("SET search_path = public, pg_temp")
        try:
            await write_batch(conn, [message_event(10, 1, text="a"), message_event(10, 2, text="b")])
            assert await conn.fetchval("SELECT count(*) FROM messages") == 2
            assert await conn.fetchval("SELECT count(*) FROM public.writer_stage_v1") == 0
        finally:
            await conn.execute("RESET search_path")


async def test_a_version_that_lost_is_not_returned_and_a_redelivered_winner_is(db):
    """What the writer announces as committed: never a version the order refused (contract O1),
    always the stored one again when its batch is redelivered (W1, W2)."""
    newer, older = message_event(10, 1, text="v2", edited_after_s=60), message_event(10, 1, text="v1")
    async with db.acquire() as conn:
        assert await write_batch(conn, [newer]) == [newer]
        assert await write_batch(conn, [older]) == []
        assert await write_batch(conn, [newer]) == [newer]  # a redelivery re-emits
        assert await write_batch(conn, [older, newer]) == [newer]
