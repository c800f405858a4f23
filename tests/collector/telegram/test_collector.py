"""The Telegram collector through the real pipeline: broker, writer, media service and PostgreSQL are
real; only Telegram is the fake (real Telethon objects behind the same interface)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import asyncpg
import pytest
from telethon.errors import FloodWaitError
from telethon.tl import types

from services.collector.telegram.collector import TelegramCollector, TelegramDisconnected, find_gaps
from tgpipe.db import TEXT_VERSIONS
from tgpipe.telegram.flood import FloodBudget
from tests.support.telegram import T0, FakeTelegram, channel, photo, post, service
from tests.support.telegram_pipeline import CHAT, NEWS, OTHER, pipeline

def posts(channel_id: int, ids: range, **kwargs) -> list[types.Message]:
    return [post(channel_id, i, f"post {i}", **kwargs) for i in ids]


async def rows(db: asyncpg.Pool, sql: str, *args: object) -> list[tuple]:
    return [tuple(r) for r in await db.fetch(sql, *args)]


async def test_backfill_of_several_channels_with_albums_and_replies(settings, db):
    fake = FakeTelegram()
    fake.add_channel(channel(NEWS, "News", "news"), [
        service(NEWS, 1, types.MessageActionChannelCreate("News")),
        post(NEWS, 2, "welcome"),
        # An album: three photos sharing one second and one grouped_id.
        *[post(NEWS, i, "album" if i == 3 else "", seconds=3, grouped_id=9001, media=photo(500 + i)) for i in (3, 4, 5)],
        post(NEWS, 6, "see above", reply_to=2),
    ])
    fake.add_channel(channel(CHAT, "Chat", megagroup=True), [  # no username: referenced by id
        post(CHAT, 1, "question", from_user=11),
        post(CHAT, 2, "answer", from_user=12, reply_to=1),
        post(CHAT, 3, "thanks", from_user=11, reply_to=2),
        *[post(CHAT, i, "", seconds=4, from_user=12, grouped_id=9002, media=photo(600 + i)) for i in (4, 5)],
    ])
    async with pipeline(settings, db, fake) as p:
        results = await p.backfill(["@news", str(CHAT)])
        assert [(r.ok, r.published) for r in results] == [(True, 6), (True, 5)]
        await p.assert_clean()

        assert await rows(db, "SELECT channel_id, type, title FROM channels ORDER BY 1") == [
            (NEWS, "public_channel", "News"), (CHAT, "private_supergroup", "Chat")]
        assert await rows(db, """SELECT message_id, kind, sender_type, sender_id, grouped_id, reply_to_message_id
                                 FROM messages WHERE channel_id = $1 ORDER BY 1""", NEWS) == [
            (1, "service", "channel", NEWS, None, None), (2, "message", "channel", NEWS, None, None),
            (3, "message", "channel", NEWS, 9001, None), (4, "message", "channel", NEWS, 9001, None),
            (5, "message", "channel", NEWS, 9001, None), (6, "message", "channel", NEWS, None, 2)]
        assert await rows(db, "SELECT message_id, sender_id, reply_to_message_id, grouped_id FROM messages "
                              "WHERE channel_id = $1 ORDER BY 1", CHAT) == [
            (1, 11, None, None), (2, 12, 1, None), (3, 11, 2, None), (4, 12, None, 9002), (5, 12, None, 9002)]
        assert await rows(db, "SELECT channel_id, message_id, status, width FROM media ORDER BY 1, 2") == [
            (NEWS, 3, "stored", 1280), (NEWS, 4, "stored", 1280), (NEWS, 5, "stored", 1280),
            (CHAT, 4, "stored", 1280), (CHAT, 5, "stored", 1280)]
        assert await db.fetchval("SELECT count(*) FROM message_versions") == 11
        assert await rows(db, "SELECT account_id, channel_id, username FROM channel_peers ORDER BY 2") == [
            (4242, NEWS, "news"), (4242, CHAT, None)]

        # A restart: peers come from PostgreSQL, history from the database cursor, nothing is re-sent.
        fake.calls.clear()
        again = await p.backfill(["@news", str(CHAT)])
        assert [(r.ok, r.published) for r in again] == [(True, 0), (True, 0)]
        assert [c for c in fake.calls if c[0] in ("resolve", "iter_messages")] == [
            ("iter_messages", NEWS, 6, None), ("iter_messages", CHAT, 5, None)]


async def test_resume_after_a_crash_mid_backfill_loses_and_duplicates_nothing(settings, db):
    fake = FakeTelegram()
    fake.add_channel(channel(NEWS, "News", "news"), [
        post(NEWS, i, f"post {i}", seconds=i // 3, grouped_id=i // 3 if i % 3 else None) for i in range(1, 251)])
    fake.fail("iter", (NEWS, 237), ConnectionError("connection reset by peer"))
    async with pipeline(settings, db, fake) as p:
        first = p.collector()
        with pytest.raises(ConnectionError):
            await first.run(["@news"], follow=False)
        await p.settle()  # what was published before the crash is committed (two pages of 100)
        assert await db.fetchval("SELECT max(message_id) FROM messages") == 200

        fake.calls.clear()
        [result] = await p.backfill(["@news"])
        assert ("iter_messages", NEWS, 200, None) in fake.calls  # the cursor came from PostgreSQL
        assert result.published == 50  # only what was not committed: no message published twice
        assert len(p.tracker.published) == 250
        assert await rows(db, "SELECT count(*), count(DISTINCT message_id), min(message_id), max(message_id) "
                              "FROM messages") == [(250, 250, 1, 250)]
        assert await db.fetchval("SELECT count(*) FROM message_versions") == 250
        async with db.acquire() as conn:
            assert await find_gaps(conn, NEWS) == []
        await p.assert_clean()


async def test_edit_then_reaction_only_edit_live(settings, db):
    fake = FakeTelegram()
    fake.add_channel(channel(NEWS, "News", "news"), posts(NEWS, range(1, 4)))
    edited_at = T0 + timedelta(hours=1)
    async with pipeline(settings, db, fake) as p:
        stop = asyncio.Event()
        following = asyncio.create_task(p.collector().run(["@news"], stop=stop))
        await p.tracker.wait_until(lambda: len(p.tracker.processed) == 3, stall_timeout=30)

        await fake.push(types.UpdateEditChannelMessage(
            post(NEWS, 2, "post 2, corrected", edit_date=edited_at, reactions={"👍": 1}), pts=1, pts_count=1))
        await fake.push(types.UpdateEditChannelMessage(  # only the reactions changed
            post(NEWS, 2, "post 2, corrected", edit_date=edited_at, reactions={"👍": 4, "❤": 2}), pts=2, pts_count=1))
        await fake.push(types.UpdateNewChannelMessage(post(NEWS, 4, "live post"), pts=3, pts_count=1))
        await p.eventually("SELECT reactions FROM messages WHERE channel_id = $1 AND message_id = 2",
                           [{"type": "emoji", "emoji": "👍", "count": 4}, {"type": "emoji", "emoji": "❤", "count": 2}],
                           NEWS)
        await p.tracker.wait_until(lambda: (NEWS, 4) in p.tracker.processed, stall_timeout=30)
        stop.set()
        [result] = await following
        assert result.ok and result.published == 6

        assert await rows(db, f"SELECT text, edit_date FROM {TEXT_VERSIONS} AS v WHERE message_id = 2 "
                              "ORDER BY valid_from") == [("post 2", None), ("post 2, corrected", edited_at)]
        assert await rows(db, "SELECT text, edit_date FROM messages WHERE message_id = 2") == [
            ("post 2, corrected", edited_at)]
        assert await db.fetchval("SELECT count(*) FROM message_versions") == 5  # 4 messages + 1 edit
        await p.assert_clean()


async def test_delete_in_a_channel_and_in_a_private_chat(settings, db):
    fake = FakeTelegram()
    fake.add_channel(channel(NEWS, "News", "news"), posts(NEWS, range(1, 5)))
    fake.add_channel(channel(OTHER, "Other", "other"), posts(OTHER, range(1, 5)))
    async with pipeline(settings, db, fake) as p:
        stop = asyncio.Event()
        following = asyncio.create_task(p.collector().run(["@news", "@other"], stop=stop))
        await p.tracker.wait_until(lambda: len(p.tracker.processed) == 8, stall_timeout=30)

        await fake.push(types.UpdateDeleteChannelMessages(NEWS, [2, 3], pts=5, pts_count=2))
        # A private chat or basic group: no chat id. Ids 3 exists in both channels; neither is touched.
        await fake.push(types.UpdateDeleteMessages([3, 77], pts=9, pts_count=2))
        await p.eventually("SELECT count(*) FROM unresolved_deletions", 2)
        await p.eventually("SELECT count(*) FROM messages WHERE deleted_at IS NOT NULL", 2)
        stop.set()
        results = await following
        assert [r.deleted for r in results] == [2, 0]

        assert await rows(db, "SELECT channel_id, message_id FROM messages WHERE deleted_at IS NOT NULL "
                              "ORDER BY 1, 2") == [(NEWS, 2), (NEWS, 3)]
        assert await db.fetchval("SELECT count(*) FROM messages") == 8  # soft: the rows stay
        assert await rows(db, "SELECT message_id, source FROM unresolved_deletions ORDER BY 1") == [
            (3, "telegram:4242"), (77, "telegram:4242")]
        await p.assert_clean()


async def test_catch_up_after_downtime_reconciles_the_recent_window(settings, db):
    fake = FakeTelegram()
    fake.add_channel(channel(NEWS, "News", "news"), posts(NEWS, range(1, 11)))
    async with pipeline(settings, db, fake, telegram_reconcile_window=8) as p:
        await p.backfill(["@news"])

        # While the collector is down: edits, a reaction, a deletion and new posts; no update reaches it.
        history = fake.history[NEWS]
        history[1] = post(NEWS, 1, "post 1 edited, outside the window", edit_date=T0 + timedelta(hours=1))
        history[4] = post(NEWS, 4, "post 4 edited", edit_date=T0 + timedelta(hours=1))
        history[5] = post(NEWS, 5, "post 5", reactions={"🔥": 3})
        del history[6]
        history.update({i: post(NEWS, i, f"post {i}") for i in (11, 12)})

        [result] = await p.backfill(["@news"])
        assert (result.published, result.deleted) == (4, 1)  # 4 and 5 re-published, 11 and 12 new; 6 deleted
        await p.eventually("SELECT count(*) FROM messages WHERE deleted_at IS NOT NULL", 1)
        assert await rows(db, "SELECT message_id, text, reactions IS NOT NULL, deleted_at IS NOT NULL "
                              "FROM messages WHERE message_id IN (1, 4, 5, 6, 12) ORDER BY 1") == [
            (1, "post 1", False, False), (4, "post 4 edited", False, False), (5, "post 5", True, False),
            (6, "post 6", False, True), (12, "post 12", False, False)]
        assert await db.fetchval("SELECT count(*) FROM message_versions WHERE message_id = 4") == 2
        await p.assert_clean()


async def test_flood_wait_shorter_than_the_budget_is_slept(settings, db):
    fake = FakeTelegram()
    fake.add_channel(channel(NEWS, "News", "news"), posts(NEWS, range(1, 31)))
    fake.fail("iter", (NEWS, 12), FloodWaitError(request=None, capture=1))
    budget = FloodBudget(3)
    async with pipeline(settings, db, fake) as p:
        [result] = await p.backfill(["@news"], flood=budget)
        assert result.ok and result.published == 30
        assert 1 <= budget.spent_s <= 1.2
        # The history resumed after the last message read before the wait.
        assert [c for c in fake.calls if c[0] == "iter_messages"] == [
            ("iter_messages", NEWS, 0, None), ("iter_messages", NEWS, 11, None)]
        assert await db.fetchval("SELECT count(*) FROM messages") == 30
        await p.assert_clean()


async def test_flood_wait_longer_than_the_budget_stops_only_that_channel(settings, db):
    fake = FakeTelegram()
    fake.add_channel(channel(NEWS, "News", "news"), posts(NEWS, range(1, 21)))
    fake.add_channel(channel(OTHER, "Other", "other"), posts(OTHER, range(1, 6)))
    fake.fail("iter", (NEWS, 12), FloodWaitError(request=None, capture=3600))
    async with pipeline(settings, db, fake) as p:
        started = time.monotonic()
        news, other = await p.backfill(["@news", "@other"], flood=FloodBudget(3))
        assert time.monotonic() - started < 15  # no hour-long sleep, no hang
        assert not news.ok and "wait 3600 s" in news.stopped and "TGPIPE_TELEGRAM_FLOOD_BUDGET_S" in news.stopped
        assert other.ok and other.published == 5
        # What was read before the wait is archived; the cursor resumes there next time.
        assert await rows(db, "SELECT channel_id, count(*), max(message_id) FROM messages GROUP BY 1 ORDER BY 1") == [
            (NEWS, 11, 11), (OTHER, 5, 5)]
        await p.assert_clean()


async def test_recollect_older_history_with_takeout_and_gap_check(settings, db):
    fake = FakeTelegram()
    fake.add_channel(channel(NEWS, "News", "news"),
                     [post(NEWS, i, f"post {i}", seconds=60 * i) for i in range(1, 11) if i not in (4, 5, 8)])
    async with pipeline(settings, db, fake) as p:
        [first] = await p.backfill(["@news"], takeout=True)
        assert fake.takeouts == 1 and first.published == 7

        collector = p.collector()
        peer = fake.peer(NEWS)
        report = await collector.gaps(peer)
        assert (report.gaps, report.missing) == ([(4, 5), (8, 8)], 3)
        fake.history[NEWS][5] = post(NEWS, 5, "post 5", seconds=300)  # Telegram still has 5 (e.g. hidden before)
        refetched = await collector.gaps(peer, refetch=True)
        assert (refetched.recovered, refetched.absent) == (1, [4, 8])  # reported, nothing invented
        await p.settle()
        async with db.acquire() as conn:
            assert await find_gaps(conn, NEWS) == [(4, 4), (8, 8)]

        fake.calls.clear()
        [from_id] = await p.backfill(["@news"], from_id=7)
        [since] = await p.backfill(["@news"], since=T0 + timedelta(seconds=60 * 8))
        assert [c for c in fake.calls if c[0] == "iter_messages"] == [
            ("iter_messages", NEWS, 6, None), ("iter_messages", NEWS, 0, T0 + timedelta(seconds=480))]
        assert (from_id.published, since.published) == (3, 2)  # 7, 9, 10; then 9, 10
        assert await db.fetchval("SELECT count(*) FROM message_versions") == 8  # re-collected: no new versions
        await p.assert_clean()


async def test_following_ends_with_an_error_when_telegram_is_lost_for_good(settings, db):
    fake = FakeTelegram()
    fake.add_channel(channel(NEWS, "News", "news"))  # nothing to publish: no broker needed
    collector = TelegramCollector(fake, None, settings.model_copy(update={"telegram_resolve_interval_s": 0}), db)
    following = asyncio.create_task(collector.run(["@news"]))
    while not fake._handlers:  # subscribed (before the backfill)
        await asyncio.sleep(0.01)
    await fake.close()  # Telethon gave up reconnecting
    with pytest.raises(TelegramDisconnected, match="lost for good"):
        await asyncio.wait_for(following, 10)
    assert fake._handlers == []  # unsubscribed


async def test_a_channel_stopped_mid_backfill_is_not_followed(settings, db):
    fake = FakeTelegram()
    fake.add_channel(channel(NEWS, "News", "news"), [post(NEWS, 1, "first")])
    fake.add_channel(channel(OTHER, "Other", "other"))
    fake.fail("iter", (NEWS, 1), FloodWaitError(request=None, capture=3600))
    # No broker: publishing anything would fail this test.
    collector = TelegramCollector(fake, None, settings.model_copy(update={"telegram_resolve_interval_s": 0}), db,
                                  flood=FloodBudget(1))
    stop = asyncio.Event()
    following = asyncio.create_task(collector.run(["@news", "@other"], stop=stop))
    while not fake._handlers:
        await asyncio.sleep(0.01)
    # A live message of the stopped channel: following it would move its cursor past message 1.
    await fake.push(types.UpdateNewChannelMessage(post(NEWS, 2, "live"), pts=1, pts_count=1))
    await asyncio.sleep(0.2)
    stop.set()
    news, other = await asyncio.wait_for(following, 10)
    assert not news.ok and news.published == 0 and other.ok
