"""Assembly of a deployable consumer service (writer or media) as a FastStream application."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka import errors as kafka_errors
from faststream import FastStream
from faststream.kafka import KafkaBroker

from tgpipe.kafka.broker import ensure_topics, make_broker
from tgpipe.db import PoolRef
from tgpipe.errors import ConfigurationError, StartupTimeoutError
from tgpipe.runtime.health import HealthServer
from tgpipe.readiness import Readiness, wait_for
from tgpipe.settings import Settings
from tgpipe.stall import watch_stalls

Register = Callable[[KafkaBroker, Settings, Callable], None]
T = TypeVar("T")

#: The one line a command prints when the broker cannot serve the idempotent producer.
NO_IDEMPOTENT_PRODUCER = (
    "the broker at {servers} refused the idempotent producer (InitProducerId: {error}): set "
    "TGPIPE_KAFKA_ENABLE_IDEMPOTENCE=false for a broker without it (the local Tansu broker), or enable "
    "it on the broker")


async def check_idempotent_producer(settings: Settings) -> None:
    """With ``kafka_enable_idempotence`` on, start and stop one idempotent producer on the broker.

    A broker that cannot serve it (Tansu answers aiokafka's InitProducerId v0 with ``UnknownError``)
    would otherwise fail the first producer tgpipe starts with a bare ``UnknownError``. aiokafka's
    own log line about that failure is left out: the error raised here says it, and what to do.

    Raises:
        ConfigurationError: the broker refused InitProducerId (:data:`NO_IDEMPOTENT_PRODUCER`).
        aiokafka.errors.KafkaError: transient: the broker does not answer.
    """
    if not settings.kafka_enable_idempotence:
        return
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, client_id="tgpipe-check",
                                enable_idempotence=True)
    sender_log = logging.getLogger("aiokafka.producer.sender")
    sender_log.disabled = True
    try:
        await producer.start()
    except (kafka_errors.UnknownError, kafka_errors.UnsupportedVersionError) as exc:
        raise ConfigurationError(NO_IDEMPOTENT_PRODUCER.format(
            servers=settings.kafka_bootstrap_servers, error=type(exc).__name__)) from None
    finally:
        sender_log.disabled = False
        await producer.stop()


def service_app(settings: Settings, client_id: str, register: Register,
                readiness: Readiness | None = None) -> FastStream:
    """A FastStream app that creates missing topics and opens the database pool at start-up,
    waiting (with backoff, one log line per attempt) for Kafka and PostgreSQL to answer, for at
    most ``settings.startup_timeout_s`` each (0: without end).

    Start-up fails at once, without waiting, on what no retry can fix: a database URL that cannot
    work, a database not migrated to head, a broker without the idempotent producer while
    ``kafka_enable_idempotence`` is on (:class:`ConfigurationError`, raised by ``FastStream.run``).

    With ``settings.metrics_port`` set, the broker gets FastStream's ``KafkaPrometheusMiddleware``
    and the app serves ``/metrics``, ``/health/ready`` and ``/health/live`` on that port
    (:mod:`tgpipe.runtime.health`) from before it waits for Kafka until after the broker stopped.
    While it consumes, :func:`tgpipe.stall.watch_stalls` turns readiness to ``stalled`` while a
    partition's records are held for ``settings.stall_timeout_s`` without an offset commit.

    Args:
        readiness: the service's state for probes (:mod:`tgpipe.readiness`); default one that
            writes ``settings.readiness_file`` when set.

    Raises:
        ConfigurationError: the database URL or the bootstrap servers are not configured
            (raised here, before anything connects).
        StartupTimeoutError: (from ``FastStream.run``) Kafka or PostgreSQL did not answer in time.
    """
    database_url, servers = settings.require_external()
    broker = make_broker(settings, client_id=client_id)
    pool = PoolRef(database_url)
    readiness = readiness or Readiness(settings.readiness_file)
    health = _health(settings, client_id, broker, pool, readiness) if settings.metrics_port else None
    register(broker, settings, pool.get)
    watcher: list[asyncio.Task] = []

    async def kafka() -> None:
        await ensure_topics(settings)
        await check_idempotent_producer(settings)

    async def start() -> None:
        if health:
            await health.start()
        try:
            await _bounded(settings, f"Kafka at {servers}", kafka, readiness)
            await _bounded(settings, "PostgreSQL", pool.open, readiness)
        except BaseException:
            await stopped()  # FastStream runs no shutdown hook after a failed start-up
            raise

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


async def _bounded(settings: Settings, what: str, step: Callable[[], Awaitable[T]], readiness: Readiness) -> T:
    """:func:`wait_for` ``step``, for at most ``settings.startup_timeout_s`` (0: without end)."""
    if not settings.startup_timeout_s:
        return await wait_for(what, step, readiness)
    try:
        async with asyncio.timeout(settings.startup_timeout_s):
            return await wait_for(what, step, readiness)
    except TimeoutError:
        last = readiness.detail.removeprefix(f"{what}: ") or "no answer"
        raise StartupTimeoutError(f"{what} did not answer within {settings.startup_timeout_s:g} s "
                                  f"(TGPIPE_STARTUP_TIMEOUT_S): {last}") from None


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

    return HealthServer(settings.metrics_port, host=settings.metrics_host, broker=broker, readiness=readiness, database=select_1,
                        registries=(registry,), stuck_after_s=settings.liveness_batch_timeout_s)
