"""The services in this process: what ``tgpipe archive``, ``tgpipe replay``, the benchmark and the tests run.

The writer and media service run exactly as deployed (their own Kafka clients and consumer
groups, registered by :func:`services.writer.app.register_writer` and
:func:`services.media.app.register_media`); only the process is shared.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from faststream import BaseMiddleware
from faststream.kafka import KafkaBroker

from services.media.app import register_media
from services.writer.app import register_writer
from tgpipe.db import PoolRef
from tgpipe.kafka.broker import make_broker
from tgpipe.runtime.progress import ProgressTracker
from tgpipe.settings import Settings
from tgpipe.telegram.client import TelegramClient


@asynccontextmanager
async def running_services(settings: Settings, tracker: ProgressTracker, *, writer: bool = True,
                           media: bool = True, telegram: TelegramClient | None = None, writers: int = 1,
                           writer_middleware: Callable[[int], type[BaseMiddleware]] | None = None,
                           ) -> AsyncIterator[KafkaBroker]:
    """Run the writer and/or media service in this process, each with its own Kafka clients.

    Yields a started producer-side broker for the collector. Migrations must already be applied.
    ``telegram`` is the media service's Telegram client (for ``source="telegram"`` photos).
    ``writers`` writer replicas (one broker each, one consumer group) start in turn;
    ``writer_middleware(i)`` gives replica ``i`` a FastStream middleware (to observe its batches,
    see :mod:`tgpipe.ops.replay`). On exit every broker is stopped (consumers leave their groups) and
    the pool is closed.
    """
    database_url, _ = settings.require_external()
    pool = PoolRef(database_url)
    await pool.open()
    brokers = []
    for replica in range(writers if writer else 0):
        brokers.append(make_broker(settings, client_id="tgpipe-writer"))
        if writer_middleware:
            brokers[-1].add_middleware(writer_middleware(replica))
        register_writer(brokers[-1], settings, pool.get, on_committed=tracker.on_committed,
                        on_superseded=tracker.on_superseded, on_covered=tracker.on_covered)
    if media:
        brokers.append(make_broker(settings, client_id="tgpipe-media"))
        register_media(brokers[-1], settings, pool.get, on_processed=tracker.on_processed, telegram=telegram)
    brokers.append(make_broker(settings, client_id="tgpipe-collector"))
    try:
        for broker in brokers:
            await broker.start()
        yield brokers[-1]
    finally:
        for broker in reversed(brokers):
            await broker.stop()
        await pool.close()
