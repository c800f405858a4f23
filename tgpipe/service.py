"""Assembly of a deployable consumer service (writer or media) as a FastStream application."""

from __future__ import annotations

from collections.abc import Callable

from faststream import FastStream
from faststream.kafka import KafkaBroker

from tgpipe.broker import ensure_topics, make_broker
from tgpipe.db import PoolRef
from tgpipe.readiness import Readiness, wait_for
from tgpipe.settings import Settings

Register = Callable[[KafkaBroker, Settings, Callable], None]


def service_app(settings: Settings, client_id: str, register: Register,
                readiness: Readiness | None = None) -> FastStream:
    """A FastStream app that creates missing topics and opens the database pool at start-up,
    waiting (with backoff, one log line per attempt) for Kafka and PostgreSQL to answer.

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
    register(broker, settings, pool.get)
    readiness = readiness or Readiness(settings.readiness_file)

    async def start() -> None:
        await wait_for(f"Kafka at {servers}", lambda: ensure_topics(settings), readiness)
        await wait_for("PostgreSQL", pool.open, readiness)

    async def stopped() -> None:
        await pool.close()
        readiness.set("stopped")

    # The pool closes after the broker stopped (after_shutdown, not on_shutdown: FastStream runs
    # on_shutdown hooks first), so a batch in flight at SIGTERM finishes with its database.
    return FastStream(broker, on_startup=[start], after_startup=[lambda: readiness.set("ready")],
                      on_shutdown=[lambda: readiness.set("stopping")], after_shutdown=[stopped])
