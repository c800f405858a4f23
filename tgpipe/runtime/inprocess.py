"""The services in this process: what ``tgpipe replay``, the benchmark, the tests and each service
process of ``tgpipe archive`` (:mod:`tgpipe.runtime.children`) run.

The writer and media service run exactly as deployed (their own Kafka clients and consumer
groups, registered by :func:`services.writer.app.register_writer` and
:func:`services.media.app.register_media`); only the process is shared.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Protocol

from faststream import BaseMiddleware
from faststream.kafka import KafkaBroker

from schemas import MessageCommitted, RangeCompleted
from services.media.app import register_media
from services.writer.app import register_writer
from tgpipe.db import PoolRef
from tgpipe.kafka.broker import make_broker
from tgpipe.runtime.progress import MessageKey
from tgpipe.settings import Settings
from tgpipe.telegram.client import TelegramClient


class ServiceHooks(Protocol):
    """What the services report (a :class:`~tgpipe.runtime.progress.ProgressTracker`, or a child
    process's reporter to its parent): the hooks of ``register_writer`` and ``register_media``."""

    def on_committed(self, events: list[MessageCommitted]) -> None: ...
    def on_superseded(self, keys: list[MessageKey]) -> None: ...
    def on_covered(self, events: list[RangeCompleted]) -> None: ...
    def on_processed(self, events: list[MessageCommitted]) -> None: ...


@asynccontextmanager
async def running_services(settings: Settings, tracker: ServiceHooks, *, writer: bool = True,
                           media: bool = True, telegram: TelegramClient | None = None, writers: int = 1,
                           writer_middleware: Callable[[int], type[BaseMiddleware]] | None = None,
                           collector: bool = True) -> AsyncIterator[KafkaBroker | None]:
    """Run the writer and/or media service in this process, each with its own Kafka clients.

    Yields a started producer-side broker for the collector (``None`` with ``collector=False``).
    Migrations must already be applied.
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
    if collector:
        brokers.append(make_broker(settings, client_id="tgpipe-collector"))
    try:
        for broker in brokers:
            await broker.start()
        yield brokers[-1] if collector else None
    finally:
        for broker in reversed(brokers):
            await broker.stop()
        await pool.close()
