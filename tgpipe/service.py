"""Assembly of a deployable consumer service (writer or media) as a FastStream application."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from faststream import FastStream
from faststream.kafka import KafkaBroker

from tgpipe.broker import ensure_topics, make_broker
from tgpipe.db import PoolRef
from tgpipe.health import HealthServer
from tgpipe.readiness import Readiness, wait_for
from tgpipe.settings import Settings
from tgpipe.stall import watch_stalls

Register = Callable[[KafkaBroker, Settings, Callable], None]


def service_app(settings: Settings, client_id: str, register: Register,
                readiness: Readiness | None = None) -> FastStream:
    """A FastStream app that creates missing topics and opens the database pool at start-up,
    waiting (with backoff, one log line per attempt) for Kafka and PostgreSQL to answer.

    With ``settings.metrics_port`` set, the broker gets FastStream's ``KafkaPrometheusMiddleware``
    and the app serves ``/metrics``, ``/health/ready`` and ``/health/live`` on that port
    (:mod:`tgpipe.health`) from before it waits for Kafka until after the broker stopped.
    While it consumes, :func:`tgpipe.stall.watch_stalls` turns readiness to ``stalled`` while a
    partition's records are held for ``settings.stall_timeout_s`` without an offset commit.

    Args:
        readiness: the service's state for probes (:mod:`tgpipe.readiness`); default one that
            writes ``settings.readiness_file`` when set.

    Raises:
        ConfigurationError: the database URL or the bootstrap servers are not configured
            (raised here, before anything connects).
    """
    database_url, servers = settings.require_external()
    broker = make_broker(settings, client_id=client_id)
    pool = PoolRef(database_url)
    readiness = readiness or Readiness(settings.readiness_file)
    health = _health(settings, client_id, broker, pool, readiness) if settings.metrics_port else None
    register(broker, settings, pool.get)
    watcher: list[asyncio.Task] = []

    async def start() -> None:
        if health:
            await health.start()
        await wait_for(f"Kafka at {servers}", lambda: ensure_topics(settings), readiness)
        await wait_for("PostgreSQL", pool.open, readiness)

    async def consuming() -> None:
        readiness.set("ready")
        watcher.append(asyncio.create_task(watch_stalls(readiness, settings.stall_timeout_s)))

    async def stopping() -> None:
        readiness.set("stopping")
        for task in watcher:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def stopped() -> None:
        await pool.close()
        readiness.set("stopped")
        if health:
            await health.stop()

    # The pool closes after the broker stopped (after_shutdown, not on_shutdown: FastStream runs
    # on_shutdown hooks first), so a batch in flight at SIGTERM finishes with its database.
    # FastStream's own lines ("app started"…) go through the service's logging (text or JSON).
    return FastStream(broker, logger=logging.getLogger("tgpipe.faststream"),
                      on_startup=[start], after_startup=[consuming],
                      on_shutdown=[stopping], after_shutdown=[stopped])


def _health(settings: Settings, client_id: str, broker: KafkaBroker, pool: PoolRef,
            readiness: Readiness) -> HealthServer:
    """FastStream's Prometheus middleware on ``broker`` and the HTTP endpoint serving it."""
    from prometheus_client import CollectorRegistry

    from faststream.kafka.prometheus import KafkaPrometheusMiddleware

    registry = CollectorRegistry()
    broker.add_middleware(KafkaPrometheusMiddleware(registry=registry, app_name=client_id))

    async def select_1() -> None:
        async with pool.get().acquire() as conn:
            await conn.fetchval("SELECT 1")

    return HealthServer(settings.metrics_port, broker=broker, readiness=readiness, database=select_1,
                        registries=(registry,), stuck_after_s=settings.liveness_batch_timeout_s)
