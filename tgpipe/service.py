"""Assembly of a deployable consumer service (writer or media) as a FastStream application."""

from __future__ import annotations

from collections.abc import Callable

from faststream import FastStream
from faststream.kafka import KafkaBroker

from tgpipe.broker import ensure_topics, make_broker
from tgpipe.db import PoolRef
from tgpipe.settings import Settings

Register = Callable[[KafkaBroker, Settings, Callable], None]


def service_app(settings: Settings, client_id: str, register: Register) -> FastStream:
    """A FastStream app that opens the database pool and creates missing topics at start-up.

    Raises:
        ConfigurationError: the database URL or the bootstrap servers are not configured
            (raised here, before anything connects).
    """
    database_url, _ = settings.require_external()
    broker = make_broker(settings, client_id=client_id)
    pool = PoolRef(database_url)
    register(broker, settings, pool.get)

    async def start() -> None:
        await ensure_topics(settings)
        await pool.open()

    # The pool closes after the broker stopped (after_shutdown, not on_shutdown: FastStream runs
    # on_shutdown hooks first), so a batch in flight at SIGTERM finishes with its database.
    return FastStream(broker, on_startup=[start], after_shutdown=[pool.close])
