"""The live-Telegram commands: ``tgpipe login``, ``tgpipe collector telegram``, ``tgpipe collector gaps``.

Registered on :data:`tgpipe.cli.app` when :mod:`tgpipe.cli` is imported. The session string is
never printed or logged; only the path of the file that holds it.
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
from rich.table import Table

from tgpipe.cli import _run, _settings, app, collector_app, console, fail
from tgpipe.errors import ConfigurationError
from tgpipe.settings import Settings

ChannelOpt = Annotated[list[str] | None, typer.Option(
    "--channel", "-c", help="@username, t.me link or channel id; repeat for several (default TGPIPE_TELEGRAM_CHANNELS)")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    return fail(message, code)


def _log_setup() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("tgpipe.faststream").setLevel(logging.WARNING)
    logging.getLogger("telethon").setLevel(logging.INFO)  # Telethon logs its reconnects here


def _client(settings: Settings, *, receive_updates: bool = True):
    from tgpipe.telegram import session

    try:
        client = session.open_client(settings, receive_updates=receive_updates)
    except ConfigurationError as exc:
        raise _fail(f"invalid configuration: {exc}") from None
    if client is None:
        raise _fail(f"no Telegram session: run `tgpipe login` (writes {settings.telegram_session_path}) "
                    "or set TGPIPE_TELEGRAM_SESSION")
    return client


@app.command()
def login(session_file: Annotated[Path | None, typer.Option(
        "--session-file", help="where to save the session (default TGPIPE_TELEGRAM_SESSION_FILE or HOME/telegram.session)")
        ] = None) -> None:
    """Log in to Telegram and save the session string to a file only you can read (0600).

    API id and hash come from TGPIPE_TELEGRAM_API_ID / TGPIPE_TELEGRAM_API_HASH or a prompt. Use one
    session per process: log in once for each collector (and media service) you run.
    """
    from tgpipe.telegram import session

    settings = _settings(telegram_session_file=session_file)
    api_id = settings.telegram_api_id or typer.prompt("API id (https://my.telegram.org)", type=int)
    api_hash = (settings.telegram_api_hash.get_secret_value() if settings.telegram_api_hash
                else typer.prompt("API hash", hide_input=True))
    path = settings.telegram_session_path
    if path.exists() and not typer.confirm(f"{path} already holds a session; replace it?"):
        raise typer.Exit(1)
    secret = asyncio.run(session.login(api_id, api_hash, lambda text, hide: typer.prompt(text, hide_input=hide)))
    session.save_session(path, secret)
    console.print(f"Logged in; session saved to {path} (mode 0600). Anyone who can read it can read the account.",
                  soft_wrap=True)


def _since(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=value.tzinfo or UTC)


@collector_app.command("telegram")
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
    session (`tgpipe login`). Stops on Ctrl-C / SIGTERM. Exit 1 when a channel was stopped.
    """
    settings = _settings()
    refs = list(channel or settings.telegram_channels)
    if not refs:
        raise _fail("no channel: pass --channel @name (repeatable) or set TGPIPE_TELEGRAM_CHANNELS")
    if since and from_id:
        raise _fail("--since and --from-id are exclusive")
    try:
        settings.require_external()
    except ConfigurationError as exc:
        raise _fail(f"invalid configuration: {exc}") from None
    client = _client(settings)
    _log_setup()
    results = _run(_collect(settings, client, refs, since=_since(since), from_id=from_id, takeout=takeout,
                                   follow=not no_follow))
    table = Table("channel", "id", "title", "published", "deleted", "status", title="Telegram collection")
    for r in results:
        table.add_row(r.ref, str(r.peer.channel_id) if r.peer else "", r.peer.title or "" if r.peer else "",
                      str(r.published), str(r.deleted), "[green]ok[/]" if r.ok else f"[red]stopped[/]: {r.stopped}")
    console.print(table)
    raise typer.Exit(0 if all(r.ok for r in results) else 1)


async def _collect(settings: Settings, client, refs: list[str], **options):
    from services.collector.telegram.collector import TelegramCollector
    from tgpipe.kafka.broker import ensure_topics, make_broker
    from tgpipe.db import create_pool
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


@collector_app.command("gaps")
def collector_gaps(
    channel: ChannelOpt = None,
    refetch: Annotated[bool, typer.Option(
        "--refetch", help="fetch the missing ids from Telegram and publish what it still has")] = False,
) -> None:
    """Report missing message-id ranges per archived channel (all channels by default).

    Ids can be missing legitimately (deleted messages): they are reported, never invented. With
    --refetch (needs a session and the broker) the missing ids are fetched by id.
    """
    settings = _settings()
    if not settings.database_url:
        raise _fail("invalid configuration: TGPIPE_DATABASE_URL must be set")
    client = _client(settings) if refetch else None
    if refetch:
        try:
            settings.require_external()
        except ConfigurationError as exc:
            raise _fail(f"invalid configuration: {exc}") from None
    reports = _run(_gaps(settings, client, list(channel or settings.telegram_channels)))
    table = Table("channel id", "missing ids", "ranges", *(("recovered", "absent on Telegram") if refetch else ()),
                  title="Gaps")
    for report in reports:
        ranges = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in report.gaps[:20])
        ranges += " …" if len(report.gaps) > 20 else ""
        extra = (str(report.recovered), str(len(report.absent))) if refetch else ()
        table.add_row(str(report.channel_id), str(report.missing), ranges, *extra)
    console.print(table)


async def _gaps(settings: Settings, client, refs: list[str]):
    from tgpipe.telegram.client import parse_channel_ref
    from services.collector.telegram.collector import GapReport, TelegramCollector, find_gaps
    from tgpipe.kafka.broker import make_broker
    from tgpipe.db import create_pool

    pool = await create_pool(settings.database_url, max_size=2)
    broker = make_broker(settings, client_id="tgpipe-collector") if client else None
    try:
        async with pool.acquire() as conn:
            if refs:
                ids = []
                for ref in refs:
                    parsed = parse_channel_ref(ref)
                    found = parsed if isinstance(parsed, int) else await conn.fetchval(
                        "SELECT channel_id FROM channel_peers WHERE lower(username) = lower($1) LIMIT 1", parsed)
                    if found is None:
                        raise _fail(f"{ref}: never resolved here; run the collector on it first")
                    ids.append(found)
            else:
                ids = [r["channel_id"] for r in await conn.fetch("SELECT channel_id FROM channels ORDER BY 1")]
            if client is None:
                return [GapReport(i, await find_gaps(conn, i)) for i in ids]
        await broker.start()
        collector = TelegramCollector(client, broker, settings, pool)
        return [await collector.gaps(await collector.peers.for_channel(i), refetch=True) for i in ids]
    finally:
        if broker is not None:
            await broker.stop()
        await pool.close()
        if client is not None:
            await client.close()
