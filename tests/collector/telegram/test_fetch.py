"""Fetching what the archive does not cover, through the pipeline (issue 12), at the fetcher level:
the real broker, the real writer (in this process) and the Telegram collector on the fake client.
The cache system's test list: partial coverage, only the hole fetched, a failure mid-fetch leaves
no coverage, the same range twice fetches nothing. (HTTP is the API service's tests.)"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from telethon.tl import types

from tests.support.telegram import FakeTelegram, channel
from tests.support.telegram_pipeline import (
    NEWS, OTHER, end_of, jan, january, pipeline, running_collector, two_ends_archived,
)
from tgpipe.db.coverage import chat_coverage, covers, pool_uncovered
from tgpipe.kafka.fetch import FetchError, KafkaRangeFetcher


def read_ids(reads: list) -> list[tuple[int, list[int]]]:
    return [(chat, [message_id for message_id, _ in read]) for chat, read in reads]


async def test_contract_F1_a_partly_covered_range_fetches_only_its_hole_and_twice_nothing(settings, db):
    async with two_ends_archived(settings, db) as p:
        fake = p.fake
        async with db.acquire() as conn:
            coverage = await chat_coverage(conn, NEWS)
        assert coverage.date_holes == [(end_of(10), jan(20))]  # the gap 01-10..20 is reported
        assert {r.source for r in coverage.ranges} == {"telegram_backfill"}
        # Each re-fetch read its range and the first message after it (which ends it).
        assert read_ids(fake.reads) == [(NEWS, list(range(1, 12))), (NEWS, list(range(20, 32)))]

        async with running_collector(p, ["@news"]):
            fetcher = KafkaRangeFetcher(p.broker, p.settings, pool_uncovered(db))
            before = len(fake.reads)
            await fetcher.fetch(NEWS, jan(1), end_of(31))
            # Telegram was asked for the hole only: from its start to the first message after it.
            hole_reads = [(chat, ids) for chat, ids in read_ids(fake.reads[before:]) if ids]
            assert hole_reads == [(NEWS, list(range(11, 21)))]
            async with db.acquire() as conn:
                assert await covers(conn, NEWS, jan(1), end_of(31))
            assert await db.fetchval("SELECT array_agg(message_id ORDER BY message_id) FROM messages") == list(
                range(1, 32))

            reads, calls = len(fake.reads), len(fake.calls)
            await fetcher.fetch(NEWS, jan(1), end_of(31))  # the same range again: covered, no Telegram
            assert (len(fake.reads), len(fake.calls)) == (reads, calls)
        assert await db.fetchval("SELECT count(*) FROM messages") == 31  # no duplicates
        assert await db.fetchval("SELECT count(*) FROM message_versions") == 31
        await p.assert_clean()


async def test_contract_F1_a_range_without_messages_up_to_now_is_covered_without_inventing_any(settings, db):
    fake = FakeTelegram()
    fake.add_channel(channel(NEWS, "News", "news"), january(NEWS))
    async with pipeline(settings, db, fake, api_fetch_timeout_s=60.0) as p:
        async with running_collector(p, ["@news"]):
            await p.eventually("SELECT count(*) FROM coverage", 1)  # the backfill's marker: 01-01..31
            fetcher = KafkaRangeFetcher(p.broker, p.settings, pool_uncovered(db))
            february, asked = datetime(2024, 2, 1, tzinfo=UTC), datetime.now(UTC)
            tomorrow = asked + timedelta(days=1)
            await fetcher.fetch(NEWS, february, tomorrow)  # no message after January
            async with db.acquire() as conn:
                assert await covers(conn, NEWS, february, asked)  # up to when it was asked
                assert not await covers(conn, NEWS, february, tomorrow)  # the future is not covered
        assert await db.fetchval("SELECT count(*) FROM messages") == 31
        # The empty range's ids are the newest message's, which the fetch published again.
        assert await db.fetchval("SELECT message_ids FROM coverage WHERE lower(dates) = $1",
                                 datetime(2024, 2, 1, tzinfo=UTC)) == asyncpg.Range(31, 32)


async def test_contract_F2_a_network_error_mid_fetch_fails_it_and_leaves_no_coverage(settings, db):
    async with two_ends_archived(settings, db) as p:
        fake = p.fake
        fake.fail("iter", (NEWS, 15), ConnectionError("network is unreachable"))
        async with running_collector(p, ["@news"]):
            fetcher = KafkaRangeFetcher(p.broker, p.settings, pool_uncovered(db))
            with pytest.raises(FetchError, match="ConnectionError: network is unreachable"):
                await fetcher.fetch(NEWS, jan(1), end_of(31))
            async with db.acquire() as conn:
                assert not await covers(conn, NEWS, jan(11), jan(11, 12))  # nothing of the hole counts
                assert (await chat_coverage(conn, NEWS)).date_holes == [(end_of(10), jan(20))]
            assert await db.fetchval("SELECT count(*) FROM coverage") == 2

            await fetcher.fetch(NEWS, jan(1), end_of(31))  # the collector goes on: a retry succeeds
            async with db.acquire() as conn:
                assert await covers(conn, NEWS, jan(1), end_of(31))
        assert await db.fetchval("SELECT count(*), count(DISTINCT message_id) FROM messages") == 31
        await p.assert_clean()


async def test_contract_F2_a_chat_no_collector_serves_fails_at_once(settings, db):
    fake = FakeTelegram()
    fake.add_channel(channel(NEWS, "News", "news"), january(NEWS)[:3])
    fake.add_channel(channel(OTHER, "Other", "other"), january(OTHER))
    async with pipeline(settings, db, fake, api_fetch_timeout_s=60.0) as p:
        async with running_collector(p, ["@news"]):
            fetcher = KafkaRangeFetcher(p.broker, p.settings, pool_uncovered(db))
            with pytest.raises(FetchError, match=f"no Telegram collector serves chat {OTHER}"):
                await fetcher.fetch(OTHER, jan(1), end_of(31))
        assert not [chat for chat, read in fake.reads if chat == OTHER]
        assert await db.fetchval("SELECT count(*) FROM coverage WHERE channel_id = $1", OTHER) == 0


async def test_contract_F2_no_answer_within_the_timeout_fails_the_fetch(settings, db):
    async with pipeline(settings, db, FakeTelegram(), api_fetch_timeout_s=1.0) as p:  # no collector runs
        fetcher = KafkaRangeFetcher(p.broker, p.settings, pool_uncovered(db))
        with pytest.raises(FetchError, match="not covered within 1 s"):
            await fetcher.fetch(NEWS, jan(1), end_of(31))


async def test_contract_F3_backfill_marks_its_range_and_live_messages_extend_it(settings, db):
    fake = FakeTelegram()
    fake.add_channel(channel(NEWS, "News", "news"), january(NEWS)[:5])
    async with pipeline(settings, db, fake) as p:
        [result] = await p.backfill(["@news"])
        assert result.ok
        await p.eventually("SELECT count(*) FROM coverage", 1)
        async with running_collector(p, ["@news"]):  # the cursor (5) is the next backfill's anchor
            await p.eventually("SELECT count(*) FROM messages", 5)
            live = january(NEWS)[5]
            await _wait_following(fake)
            await fake.push(types.UpdateNewChannelMessage(live, pts=1, pts_count=1))
            await p.eventually("SELECT count(*) FROM coverage", 2)
        rows = [tuple(r) for r in await db.fetch(
            "SELECT source, lower(message_ids), upper(message_ids) - 1, lower(dates), upper(dates) FROM coverage "
            "ORDER BY lower(message_ids)")]
        assert rows == [("telegram_backfill", 1, 5, jan(1, 12), jan(5, 12)),
                        ("telegram_live", 5, 6, jan(5, 12), jan(6, 12))]
        async with db.acquire() as conn:
            assert await covers(conn, NEWS, jan(1, 12), jan(6, 12))


async def _wait_following(fake: FakeTelegram) -> None:
    """Until the collector's update handler is registered and its backfill has read the history."""
    async with asyncio.timeout(30):
        while not (fake._handlers and len(fake.reads) >= 2):
            await asyncio.sleep(0.02)


async def test_contract_F3_gaps_refetched_whole_are_marked_from_neighbour_to_neighbour(settings, db):
    fake = FakeTelegram()
    fake.add_channel(channel(NEWS, "News", "news"), [m for m in january(NEWS)[:10] if m.id not in (4, 5, 8)])
    async with pipeline(settings, db, fake) as p:
        await p.backfill(["@news"])
        await p.eventually("SELECT count(*) FROM coverage", 1)
        fake.history[NEWS][5] = january(NEWS)[4]  # Telegram still has 5; 4 and 8 are gone
        report = await p.collector().gaps(fake.peer(NEWS), refetch=True, max_ids=2)  # only the gap 4..5
        assert (report.recovered, report.absent) == (1, [4])
        await p.eventually("SELECT count(*) FROM coverage", 2)
        assert await db.fetchval("SELECT message_ids FROM coverage ORDER BY recorded_at DESC LIMIT 1") == asyncpg.Range(
            3, 7)
        assert await db.fetchval("SELECT dates FROM coverage ORDER BY recorded_at DESC LIMIT 1") == asyncpg.Range(
            jan(3, 12), jan(6, 12), upper_inc=True)
