"""The writer's edit history, reactions-only updates and soft deletes, against a real PostgreSQL.

Events are built from real Telethon messages through the Telegram mapping, as the collector does.
"""

from __future__ import annotations

from datetime import timedelta

from schemas import DeletedPayload, MessageDeleted, MessageUpserted
from tgpipe.telegram.client import ChannelPeer
from services.collector.telegram.mapping import channel_payload, message_payload
from services.writer.persist import write_batch
from tests.support.telegram import T0, post
from tgpipe.db import TEXT_VERSIONS
from tgpipe.ops.verify import verify

NEWS = channel_payload(ChannelPeer(100, 1, "news", "News", "public_channel"))
OTHER = channel_payload(ChannelPeer(300, 3, None, "Other", "private_channel"))


def upserted(message, *, observed_s: int, channel=NEWS) -> MessageUpserted:
    """A message.upserted event of ``message`` as observed ``observed_s`` seconds after T0."""
    return MessageUpserted(source="telegram:1",
                           payload=message_payload(message, channel, T0 + timedelta(seconds=observed_s)))


def deleted(chat_id: int | None, ids: list[int], *, observed_s: int) -> MessageDeleted:
    return MessageDeleted(source="telegram:1", payload=DeletedPayload(
        channel_id=chat_id, message_ids=ids, deleted_at=T0 + timedelta(seconds=observed_s), detected_by="live"))


async def _state(conn, message_id: int = 1, chat_id: int = 100):
    row = await conn.fetchrow("SELECT text, edit_date, reactions, deleted_at FROM messages "
                              "WHERE channel_id = $1 AND message_id = $2", chat_id, message_id)
    versions = await conn.fetch(f"SELECT text, edit_date, valid_from FROM {TEXT_VERSIONS} AS v "
                                "WHERE channel_id = $1 AND message_id = $2 ORDER BY valid_from", chat_id, message_id)
    return row, [tuple(v) for v in versions]


async def test_edit_then_reaction_only_edit_adds_one_text_version(db):
    edited_at = T0 + timedelta(minutes=5)
    original = upserted(post(100, 1, "v1", reactions={"👍": 1}), observed_s=10)
    edit = upserted(post(100, 1, "v2", edit_date=edited_at, reactions={"👍": 1}), observed_s=400)
    reaction_only = upserted(post(100, 1, "v2", edit_date=edited_at, reactions={"👍": 5, "🔥": 2}), observed_s=500)
    async with db.acquire() as conn:
        for event in (original, edit, reaction_only):
            await write_batch(conn, [event])
        row, versions = await _state(conn)
        assert row["text"] == "v2" and row["edit_date"] == edited_at
        assert row["reactions"] == [{"type": "emoji", "emoji": "👍", "count": 5},
                                    {"type": "emoji", "emoji": "🔥", "count": 2}]
        assert versions == [("v1", None, T0 + timedelta(seconds=1)), ("v2", edited_at, edited_at)]

        # Replaying every event, in any order and batching, never rolls anything back.
        await write_batch(conn, [reaction_only, edit, original])
        await write_batch(conn, [edit])
        await write_batch(conn, [original])
        assert await _state(conn) == (row, versions)
        assert (await verify(conn)).ok


async def test_the_current_version_is_stored_once_in_any_order_and_batching(db):
    """Migration 0013: a message's current text version lives in ``messages`` only; its versions row
    has NULL text, entities and search columns, a superseded one keeps them. An edit back to the
    first text (v1 → v2 → v1) makes v1 current again and gives v2 its text, whatever the order of
    arrival and the batching: the stored rows are the same."""
    first = upserted(post(100, 1, "v1"), observed_s=10)
    edit = upserted(post(100, 1, "v2", edit_date=T0 + timedelta(minutes=5)), observed_s=400)
    back = upserted(post(100, 1, "v1", edit_date=T0 + timedelta(minutes=9)), observed_s=700)
    orders = [[[first], [edit], [back]], [[back], [edit], [first]], [[edit], [first, back]],
              [[first, edit, back]], [[back, first], [edit]], [[edit, back], [first], [edit]]]
    stored = set()
    async with db.acquire() as conn:
        for batches in orders:
            await conn.execute("TRUNCATE coverage, media, message_versions, messages, senders, channels")
            for batch in batches:
                await write_batch(conn, batch)
            rows = await conn.fetch("SELECT text, entities::text, search_text, search_vector::text, edit_date, "
                                    "valid_from FROM message_versions ORDER BY valid_from")
            stored.add(tuple(tuple(r) for r in rows))
            row, versions = await _state(conn)
            assert row["text"] == "v1"
            assert versions == [("v1", None, T0 + timedelta(seconds=1)),
                                ("v2", T0 + timedelta(minutes=5), T0 + timedelta(minutes=5))]
            assert (await verify(conn)).ok
    [rows] = stored
    assert [r[:3] for r in rows] == [(None, None, None), ("v2", "[]", "v2")]
    assert rows[0][3] is None and rows[1][3] == "'v2'"


async def test_reactions_change_without_any_edit_date(db):
    first = upserted(post(100, 1, "same", reactions={"👍": 1}), observed_s=10)
    later = upserted(post(100, 1, "same", reactions={"👍": 9}), observed_s=20)
    async with db.acquire() as conn:
        await write_batch(conn, [first])
        await write_batch(conn, [later])
        await write_batch(conn, [first])  # an older observation, replayed
        row, versions = await _state(conn)
    assert row["reactions"] == [{"type": "emoji", "emoji": "👍", "count": 9}]
    assert versions == [("same", None, T0 + timedelta(seconds=1))]


async def test_one_batch_refreshes_reactions_of_stored_messages_beside_new_ones_and_edits(db):
    """The messages upsert does the reactions refresh too: in one batch with a new message and an
    edit, a later observation of a stored message with the same edit_date replaces the row (contract
    O1: the version with the greatest (edit_date, observed_at, sha256)), and an older observation
    changes nothing."""
    edited_at = T0 + timedelta(minutes=5)
    stored = [upserted(post(100, 1, "same", reactions={"👍": 1}), observed_s=10),
              upserted(post(100, 2, "v1", edit_date=edited_at, reactions={"👍": 1}), observed_s=400),
              upserted(post(100, 3, "old", reactions={"👍": 3}), observed_s=50),
              upserted(post(100, 4, "v1"), observed_s=10)]
    batch = [upserted(post(100, 1, "same", reactions={"👍": 9}), observed_s=20),
             # same edit_date, other text (two sources spelling one version differently): the later one wins
             upserted(post(100, 2, "not an edit", edit_date=edited_at, reactions={"🔥": 2}), observed_s=500),
             upserted(post(100, 3, "old", reactions={"👍": 1}), observed_s=40),  # observed earlier
             upserted(post(100, 4, "v2", edit_date=edited_at), observed_s=600),  # a newer edit
             upserted(post(100, 5, "new", reactions={"👍": 4}), observed_s=30)]
    async with db.acquire() as conn:
        await write_batch(conn, stored)
        await write_batch(conn, batch)
        rows = await conn.fetch("SELECT message_id, text, edit_date, reactions, raw, source_event_id, observed_at "
                                "FROM messages ORDER BY message_id")
        assert (await verify(conn)).ok
    state = {r["message_id"]: r for r in rows}
    counts = {i: [(x["emoji"], x["count"]) for x in state[i]["reactions"] or []] for i in state}
    assert counts == {1: [("👍", 9)], 2: [("🔥", 2)], 3: [("👍", 3)], 4: [], 5: [("👍", 4)]}
    assert [state[i]["text"] for i in range(1, 6)] == ["same", "not an edit", "old", "v2", "new"]
    assert state[2]["edit_date"] == edited_at and state[4]["edit_date"] == edited_at
    expected = {1: batch[0], 2: batch[1], 3: stored[2], 4: batch[3], 5: batch[4]}
    for i, event in expected.items():
        assert state[i]["source_event_id"] == event.event_id
        assert state[i]["observed_at"] == event.payload.observed_at
        assert state[i]["raw"] == event.payload.message.raw


async def test_soft_delete_in_a_channel_and_unresolved_deletion_elsewhere(db):
    async with db.acquire() as conn:
        await write_batch(conn, [upserted(post(100, i, f"n{i}"), observed_s=1) for i in (1, 2, 3)]
                          + [upserted(post(300, 2, "other chat"), observed_s=1, channel=OTHER)])
        channel_delete = deleted(100, [2, 3, 99], observed_s=50)
        private_delete = deleted(None, [2, 7], observed_s=60)
        await write_batch(conn, [channel_delete, private_delete])
        await write_batch(conn, [channel_delete, private_delete, deleted(100, [2], observed_s=90)])  # replays

        rows = await conn.fetch("SELECT channel_id, message_id, deleted_at FROM messages ORDER BY 1, 2")
        unresolved = await conn.fetch("SELECT message_id, deleted_at, source FROM unresolved_deletions ORDER BY 1")
        assert (await verify(conn)).ok
    at50 = T0 + timedelta(seconds=50)
    # The rows stay; the first deletion time is kept; id 99 was never archived; chat 300 is untouched.
    assert [tuple(r) for r in rows] == [(100, 1, None), (100, 2, at50), (100, 3, at50), (300, 2, None)]
    assert [tuple(r) for r in unresolved] == [(2, T0 + timedelta(seconds=60), "telegram:1"),
                                              (7, T0 + timedelta(seconds=60), "telegram:1")]


async def test_contract_O1_a_later_reading_corrects_dates_stored_with_a_wrong_zone(db, tmp_path):
    """A 2020-era export archived with a wrong zone, then read again with the right zone and a later
    ``observed_at`` (``--observed-at``): the second reading wins in whichever order the two arrive
    (a replay of the topic holds both), for the date and for an edit date it moves later."""
    import json
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from services.collector.export import ExportReader

    entries = [{"id": 1, "type": "message", "date": "2020-08-03T17:06:43", "from": "A", "from_id": 5, "text": "hi"},
               {"id": 2, "type": "message", "date": "2020-08-03T18:00:00", "edited": "2020-08-03T19:00:00",
                "from": "A", "from_id": 5, "text": "edited"}]
    (tmp_path / "result.json").write_text(json.dumps({"name": "c", "type": "bot_chat", "id": 9, "messages": entries}))
    wrong = [MessageUpserted(source="export", payload=p)
             for p in ExportReader(tmp_path, timezone=ZoneInfo("UTC")).payloads()]
    corrected = [MessageUpserted(source="export", payload=p) for p in ExportReader(
        tmp_path, timezone=ZoneInfo("America/New_York"), observed_at=datetime(2026, 12, 1, tzinfo=UTC)).payloads()]
    expected = [(1, datetime(2020, 8, 3, 21, 6, 43, tzinfo=UTC), None),
                (2, datetime(2020, 8, 3, 22, tzinfo=UTC), datetime(2020, 8, 3, 23, tzinfo=UTC))]
    async with db.acquire() as conn:
        for first, second in ((wrong, corrected), (corrected, wrong)):
            await conn.execute("TRUNCATE coverage, media, message_versions, messages, senders, channels")
            await write_batch(conn, first)
            await write_batch(conn, second)
            rows = await conn.fetch("SELECT message_id, date, edit_date FROM messages ORDER BY 1")
            assert [tuple(r) for r in rows] == expected


async def test_contract_O1_re_archiving_an_older_export_never_rolls_reactions_back(db, tmp_path):
    """Two exports of one chat: the newer one (a later message, 50 reactions) archived first, the
    older one (3 reactions) after it. The envelope time of the second is later, the data says it
    is older: the reactions stay at 50."""
    from services.collector.export import ExportReader
    from tests.support.factories import two_exports

    newer, older = ([MessageUpserted(source="export", payload=p) for p in ExportReader(f, timezone=None).payloads()]
                    for f in two_exports(tmp_path))
    async with db.acquire() as conn:
        await write_batch(conn, newer)
        await write_batch(conn, older)
        reactions = await conn.fetchval("SELECT reactions FROM messages WHERE message_id = 1")
    assert reactions == [{"type": "emoji", "count": 50, "emoji": "👍"}]


async def test_contract_O1_a_late_older_title_or_an_untitled_observation_never_replaces_the_title(db):
    renamed = ChannelPeer(100, 1, "news", "News (renamed)", "public_channel")
    untitled = ChannelPeer(100, 1, None, None, "public_channel")
    newest = upserted(post(100, 2, "b"), observed_s=50, channel=channel_payload(renamed))
    late_older = upserted(post(100, 1, "a"), observed_s=10)  # title "News", observed earlier, written later
    no_title = upserted(post(100, 3, "c"), observed_s=90, channel=channel_payload(untitled))
    async with db.acquire() as conn:
        for event in (newest, late_older, no_title):
            await write_batch(conn, [event])
        row = await conn.fetchrow("SELECT title, type, title_date FROM channels WHERE channel_id = 100")
    assert tuple(row) == ("News (renamed)", "public_channel", T0 + timedelta(seconds=50))
