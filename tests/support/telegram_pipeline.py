"""The writer and media service running in this process with the fake Telegram, and a collector-side
broker: the Telegram collector's tests (and the media service's) drive the real pipeline through it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from faststream.kafka import KafkaBroker
from telethon.tl import types

from services.collector.telegram.collector import TelegramCollector
from tests.support.telegram import T0, FakeTelegram, channel, post
from tgpipe.ops.verify import verify
from tgpipe.runtime.inprocess import running_services
from tgpipe.runtime.progress import ProgressTracker
from tgpipe.settings import Settings

NEWS, CHAT, OTHER = 100, 200, 300


@dataclass
class Pipeline:
    """The writer and media service running in this process, and a collector-side broker."""

    settings: Settings
    db: asyncpg.Pool
    fake: FakeTelegram
    broker: KafkaBroker
    tracker: ProgressTracker

    def collector(self, **kwargs) -> TelegramCollector:
        return TelegramCollector(self.fake, self.broker, self.settings, self.db,
                                 on_published=self.tracker.on_published, **kwargs)

    async def backfill(self, refs: list[str], **kwargs):
        """Run the collector without following, then wait until the writer and media caught up."""
        collector = self.collector(flood=kwargs.pop("flood", None))
        results = await collector.run(refs, follow=False, **kwargs)
        await self.settle()
        return results

    async def settle(self) -> None:
        await self.tracker.wait_until(lambda: self.tracker.done, stall_timeout=30)

    async def eventually(self, sql: str, expected: object, *args: object) -> None:
        """Poll ``sql`` until it returns ``expected`` (deletions have no progress hook)."""
        deadline = time.monotonic() + 20
        while (value := await self.db.fetchval(sql, *args)) != expected:
            assert time.monotonic() < deadline, f"{sql!r} is still {value!r}, expected {expected!r}"
            await asyncio.sleep(0.05)

    async def assert_clean(self) -> None:
        async with self.db.acquire() as conn:
            report = await verify(conn)
        assert report.ok, report.checks


@asynccontextmanager
async def pipeline(settings: Settings, db: asyncpg.Pool, fake: FakeTelegram, **overrides) -> AsyncIterator[Pipeline]:
    settings = settings.model_copy(update={"telegram_resolve_interval_s": 0.0, **overrides})
    tracker = ProgressTracker()
    async with running_services(settings, tracker, telegram=fake) as broker:
        yield Pipeline(settings, db, fake, broker, tracker)


def jan(day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2024, 1, day, hour, minute, second, tzinfo=UTC)


def end_of(day: int) -> datetime:
    return jan(day, 23, 59, 59)


def january(channel_id: int) -> list[types.Message]:
    """Message ``d`` of each day ``d`` of January 2024, at noon."""
    return [post(channel_id, d, f"day {d}", seconds=int((jan(d, 12) - T0).total_seconds())) for d in range(1, 32)]


@asynccontextmanager
async def running_collector(p: Pipeline, refs: list[str]) -> AsyncIterator[None]:
    """The Telegram collector running (backfill, then following and serving fetch requests)."""
    stop = asyncio.Event()
    run = asyncio.ensure_future(p.collector().run(refs, stop=stop))
    try:
        yield
    finally:
        stop.set()
        results = await asyncio.wait_for(run, 60)
        assert all(r.ok for r in results), results


async def archive_two_ends(p: Pipeline) -> None:
    """Re-fetch 01-01..10 and 01-20..31 (telegram_backfill markers) and wait for the writer."""
    collector = p.collector()
    await collector.refetch(p.fake.peer(NEWS), jan(1), end_of(10))
    await collector.refetch(p.fake.peer(NEWS), jan(20), end_of(31))
    await p.settle()
    await p.eventually("SELECT count(*) FROM coverage", 2)


@asynccontextmanager
async def two_ends_archived(settings: Settings, db: asyncpg.Pool) -> AsyncIterator[Pipeline]:
    """The pipeline running (fetch timeout 60 s) with chat ``NEWS`` ("News", @news) on the fake
    Telegram holding one message a day of January 2024, of which 01-01..10 and 01-20..31 are archived
    with their backfill markers (:func:`archive_two_ends`): the hole 01-11..19 is not."""
    fake = FakeTelegram()
    fake.add_channel(channel(NEWS, "News", "news"), january(NEWS))
    async with pipeline(settings, db, fake, api_fetch_timeout_s=60.0) as p:
        await archive_two_ends(p)
        yield p
