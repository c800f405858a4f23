"""``tgpipe collector export|telegram|gaps``: publish an export, follow Telegram live, report id gaps.

The session string is never printed or logged; only the path of the file that holds it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from tgpipe.cli import status_codes
from tgpipe.cli.base import CommandFailed, CommandTyper
from tgpipe.cli.options import (ChannelOpt, ChatOpt, JsonOpt, ObservedAtOpt, TimezoneOpt, load_settings, read_export,
                                telegram_client)
from tgpipe.cli.render import console, render_collection, render_gaps
from tgpipe.errors import ConfigurationError
from tgpipe.settings import Settings

app = CommandTyper(help="Collect messages and publish them to the messages topic.", no_args_is_help=True)


@app.command("export")
def collector_export(path: Annotated[Path, typer.Argument(exists=True)], timezone: TimezoneOpt = None,
                     observed_at: ObservedAtOpt = None) -> None:
    """Publish every message of a Telegram Desktop export to the messages topic (deployed collector).

    Exit 2 when the export cannot be read at all (nothing published)."""
    from services.collector.publish import publish_export
    from tgpipe.ops.exports import open_export
    from tgpipe.kafka.broker import ensure_topics, running_broker
    from tgpipe.runtime.service import check_idempotent_producer

    settings = load_settings(export_timezone=timezone, export_observed_at=observed_at)
    settings.require_external()
    reader = read_export(open_export, path, settings)

    refused: list[str] = []

    async def run() -> tuple[int, list]:
        await ensure_topics(settings)
        await check_idempotent_producer(settings)
        async with running_broker(settings, client_id="tgpipe-collector") as broker:
            return await publish_export(broker, settings, reader.payloads(), source=f"export:{reader.export_root}",
                                        on_refused=lambda _event, reason: refused.append(reason))

    published, markers = asyncio.run(run())
    console.print(f"published {published} messages and {len(markers)} range-complete markers to "
                  f"{settings.topic_messages}")
    for problem in [*map(str, reader.problems + reader.repaired), *refused]:
        console.print(f"[red]export problem:[/red] {problem}", soft_wrap=True)


def _log_setup() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("tgpipe.faststream").setLevel(logging.WARNING)
    logging.getLogger("telethon").setLevel(logging.INFO)  # Telethon logs its reconnects here


def _since(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=value.tzinfo or UTC)


@app.command("telegram")
def collector_telegram(
    channel: ChannelOpt = None,
    since: Annotated[datetime | None, typer.Option(
        "--since", formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"], help="re-collect from this date (UTC)")] = None,
    from_id: Annotated[int | None, typer.Option("--from-id", min=1, help="re-collect from this message id")] = None,
    takeout: Annotated[bool, typer.Option("--takeout", help="backfill through a takeout session")] = False,
    no_follow: Annotated[bool, typer.Option("--no-follow", help="stop after the backfill")] = False,
) -> None:
    """Backfill channels from the database cursor, reconcile recent messages, then follow them live.

    Needs TGPIPE_DATABASE_URL (migrated: `tgpipe db upgrade`), TGPIPE_KAFKA_BOOTSTRAP_SERVERS and a
    session (`tgpipe login`). While following, it also serves fetch requests (TGPIPE_TOPIC_FETCH_REQUESTS)
    for its channels. Stops on Ctrl-C / SIGTERM. Exit 1 when a channel was stopped.
    """
    settings = load_settings()
    refs = list(channel or settings.telegram_channels)
    if not refs:
        raise CommandFailed("no channel: pass --channel @name (repeatable) or set TGPIPE_TELEGRAM_CHANNELS")
    if since and from_id:
        raise CommandFailed("--since and --from-id are exclusive")
    settings.require_external()
    client = telegram_client(settings)
    _log_setup()
    results = asyncio.run(_collect(settings, client, refs, since=_since(since), from_id=from_id, takeout=takeout,
                                   follow=not no_follow))
    render_collection(results)
    raise typer.Exit(status_codes.SUCCESS if all(r.ok for r in results) else status_codes.FAILED)


async def _collect(settings: Settings, client, refs: list[str], **options):
    from services.collector.telegram.collector import TelegramCollector
    from tgpipe.db import create_pool
    from tgpipe.kafka.broker import ensure_topics, make_broker
    from tgpipe.runtime.service import check_idempotent_producer

    try:
        await ensure_topics(settings)
        await check_idempotent_producer(settings)
        pool = await create_pool(settings.database_url)
    except BaseException:
        await client.close()
        raise
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    broker = make_broker(settings, client_id="tgpipe-collector")
    await broker.start()
    columns = (SpinnerColumn(), TextColumn("{task.description:<24}"), TextColumn("{task.completed:>8} messages"),
               TextColumn("{task.fields[state]}"), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console, transient=False) as progress:
            collector = TelegramCollector(client, broker, settings, pool, progress=progress)
            return await collector.run(refs, stop=stop, **options)
    finally:
        await broker.stop()
        await pool.close()
        await client.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


@app.command("gaps")
def collector_gaps(
    chat: ChatOpt = None,
    refetch: Annotated[bool, typer.Option(
        "--refetch", help="fetch the missing ids from Telegram and publish what it still has")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Report missing message-id ranges per archived chat (all chats by default).

    Ids can be missing legitimately (deleted messages): they are reported, never invented. With
    --refetch (needs a session and the broker) the missing ids are fetched by id.
    """
    from tgpipe.ops.gaps import gaps

    settings = load_settings()
    if not settings.database_url:
        raise ConfigurationError("TGPIPE_DATABASE_URL must be set")
    client = telegram_client(settings) if refetch else None
    if refetch:
        settings.require_external()
    found = asyncio.run(gaps(settings, client, list(chat or settings.telegram_channels)))
    if as_json:
        print(found.to_json())
        return
    render_gaps(found)
