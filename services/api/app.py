"""The app factory of the history API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from services.api import pages
from services.api.deps import require_token
from services.api.routes import chats, health, history, media, messages, search
from tgpipe.db import create_pool
from tgpipe.db.coverage import pool_uncovered
from tgpipe.errors import ConfigurationError
from tgpipe.kafka.broker import make_broker
from tgpipe.kafka.fetch import KafkaRangeFetcher, RangeFetcher
from tgpipe.settings import Settings

#: PostgreSQL settings of every API connection: a transaction cannot write unless it says so, and
#: the API never says so.
READ_ONLY = {"default_transaction_read_only": "on", "application_name": "tgpipe-api"}


def create_app(settings: Settings, *, fetcher: RangeFetcher | None = None, fetch_through_kafka: bool = False
               ) -> FastAPI:
    """The API app on ``settings.database_url`` (the pool opens in the app's lifespan).

    ``fetcher`` gets a range the archive does not cover archived (``/api/v1/history``); without
    one, such a range is answered 503. ``fetch_through_kafka`` (``tgpipe api`` with a broker configured):
    the fetcher is a :class:`~tgpipe.kafka.fetch.KafkaRangeFetcher` on a producer started in the
    lifespan, served by the running Telegram collector. The web viewer's pages are served at ``/`` (:mod:`services.api.pages`).
    ``settings.api_token`` protects every route but ``/health``, ``/login`` and ``/static``;
    ``settings.api_cors_origins`` turns on CORS for those origins only.

    Raises (at start-up, in the lifespan):
        ConfigurationError: ``database_url`` is unset, cannot work, or is not migrated.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not settings.database_url:
            raise ConfigurationError("TGPIPE_DATABASE_URL must be set for the API")
        async with AsyncExitStack() as stack:
            app.state.pool = await create_pool(settings.database_url, max_size=8, server_settings=READ_ONLY)
            stack.push_async_callback(app.state.pool.close)
            if fetch_through_kafka and app.state.fetcher is None:
                broker = make_broker(settings, client_id="tgpipe-api")
                await broker.start()
                stack.push_async_callback(broker.stop)
                app.state.fetcher = KafkaRangeFetcher(broker, settings, pool_uncovered(app.state.pool))
            yield

    app = FastAPI(title="tgpipe history API", version="1",
                  description="Read the archive: chats, messages, coverage, media, and the history of a "
                              "date range, served whole or not at all (docs/api.md).",
                  lifespan=lifespan)
    app.state.settings, app.state.fetcher = settings, fetcher
    guarded = [Depends(require_token)]
    app.include_router(health.router)
    for module in (chats, messages, history, search):
        app.include_router(module.router, prefix="/api/v1", dependencies=guarded)
    app.include_router(media.router, dependencies=guarded)
    pages.install(app)  # the web viewer at / (and the errors of every route)
    if settings.api_cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.api_cors_origins, allow_methods=["GET"],
                           allow_headers=["Authorization"])
    return app
