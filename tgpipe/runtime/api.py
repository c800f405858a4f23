"""Running the history API (:mod:`services.api`) on uvicorn until Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio

import uvicorn

from services.api.app import READ_ONLY, create_app
from tgpipe.db import create_pool
from tgpipe.kafka.fetch import RangeFetcher
from tgpipe.settings import Settings


async def _check_database(database_url: str) -> None:
    pool = await create_pool(database_url, max_size=1, server_settings=READ_ONLY)
    await pool.close()


def run_api(settings: Settings, *, fetcher: RangeFetcher | None = None) -> None:
    """Serve the API on ``settings.api_host``:``settings.api_port`` until interrupted.

    An uncovered range of ``/api/v1/history`` is fetched by ``fetcher``, else, when a broker is
    configured (``TGPIPE_KAFKA_BOOTSTRAP_SERVERS``), through the fetch-requests topic and the running
    Telegram collector; with neither it is answered 503.

    The database is checked first, so that a bad URL or an unmigrated database fails with one line
    before uvicorn starts.

    Raises:
        ConfigurationError: ``database_url`` unset, unusable, or not migrated.
        OSError: the port cannot be bound, or the database does not answer.
    """
    from tgpipe.errors import ConfigurationError

    if not settings.database_url:
        raise ConfigurationError("TGPIPE_DATABASE_URL must be set for the API")
    asyncio.run(_check_database(settings.database_url))
    app = create_app(settings, fetcher=fetcher, fetch_through_kafka=bool(settings.kafka_bootstrap_servers))
    config = uvicorn.Config(app, host=settings.api_host, port=settings.api_port,
                            log_level=settings.log_level.lower(), proxy_headers=False, server_header=False)
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        raise OSError(f"the API could not listen on {settings.api_host}:{settings.api_port} (see the log above)")


def api_url(settings: Settings) -> str:
    """The URL the API serves at."""
    host = f"[{settings.api_host}]" if ":" in settings.api_host else settings.api_host
    return f"http://{host}:{settings.api_port}"
