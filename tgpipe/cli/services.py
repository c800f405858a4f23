"""``tgpipe writer`` and ``tgpipe media``: the deployable consumer services, run until stopped."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable

from tgpipe.cli.base import CommandTyper
from tgpipe.cli.options import load_settings

app = CommandTyper()


def _run_service(client_id: str, register: Callable) -> None:
    """Run a deployed service until stopped; exit 2 on configuration no retry can fix, 1 when Kafka
    or PostgreSQL did not answer within TGPIPE_STARTUP_TIMEOUT_S."""
    from tgpipe.logs import configure
    from tgpipe.runtime.service import service_app

    settings = load_settings()
    service = service_app(settings, client_id, register)
    configure(settings.log_format, settings.log_level)
    asyncio.run(service.run())


@app.command()
def writer() -> None:
    """Run the writer service (consumer group TGPIPE_WRITER_GROUP) until stopped."""
    from services.writer.app import register_writer

    _run_service("tgpipe-writer", register_writer)


@app.command()
def media() -> None:
    """Run the media service (consumer group TGPIPE_MEDIA_GROUP) until stopped.

    With a Telegram session configured (its own: never the collector's), photos of Telegram
    messages are downloaded through it; without one they are recorded as no_telegram_client.
    """
    from services.media.app import register_media
    from tgpipe.telegram.session import open_client

    telegram = open_client(load_settings(), receive_updates=False)
    _run_service("tgpipe-media", functools.partial(register_media, telegram=telegram))
