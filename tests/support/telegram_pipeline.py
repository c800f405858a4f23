"""The writer and media service running in this process with the fake Telegram, and a collector-side
broker: the Telegram collector's tests (and the media service's) drive the real pipeline through it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
from faststream.kafka import KafkaBroker

from services.collector.telegram.collector import TelegramCollector
from tests.support.telegram import FakeTelegram
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
