"""The ``tgpipe`` command line (typer).

``archive`` runs the whole pipeline in one process on the embedded default; ``collector``,
``writer`` and ``media`` are the deployable services; ``db upgrade`` migrates; ``verify``
checks integrity. All configuration comes from :class:`tgpipe.settings.Settings` (``TGPIPE_*``).

A command that fails prints one line to stderr (a JSON object like the service logs' when
``TGPIPE_LOG_FORMAT=json``) and exits 2 when the configuration is at fault (invalid settings, a
database URL that cannot work, a database not migrated, a broker without the idempotent producer),
1 when the work failed (:func:`_run`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from tgpipe.errors import ConfigurationError, ExportError, TgpipeError, is_transient
from tgpipe.settings import Settings

app = typer.Typer(help="Archive Telegram channels into PostgreSQL through Kafka, with their photos.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
collector_app = typer.Typer(help="Collect messages and publish them to the messages topic.", no_args_is_help=True)
db_app = typer.Typer(help="Database administration.", no_args_is_help=True)
app.add_typer(collector_app, name="collector")
app.add_typer(db_app, name="db")
console = Console()
errors = Console(stderr=True, soft_wrap=True)

ExportPath = Annotated[Path, typer.Option("--export", exists=True, help="Telegram Desktop export folder or result.json")]
TimezoneOpt = Annotated[str | None, typer.Option(
    "--timezone", help="IANA zone of `date` in exports without date_unixtime (default TGPIPE_EXPORT_TIMEZONE; "
                       "such an export is refused without one)")]
ObservedAtOpt = Annotated[str | None, typer.Option(
    "--observed-at", help="when the export was made, ISO 8601 with zone (default TGPIPE_EXPORT_OBSERVED_AT, else "
                          "its newest date); a later time lets this archive correct an earlier one, e.g. dates "
                          "read with a wrong --timezone")]


def fail(message: str, code: int) -> typer.Exit:
    """Print ``message`` as one line on stderr and return the ``typer.Exit(code)`` to raise.

    With ``TGPIPE_LOG_FORMAT=json`` (read from the environment: the settings may be what failed)
    the line is a JSON object as the services log them (:class:`tgpipe.logs.JsonFormatter`).
    """
    log_format = next((v for k, v in os.environ.items() if k.upper() == "TGPIPE_LOG_FORMAT"), "")
    if log_format.lower() == "json":
        from tgpipe.logs import JsonFormatter

        record = logging.makeLogRecord({"name": "tgpipe.cli", "levelname": "ERROR", "levelno": logging.ERROR,
                                        "msg": message})
        typer.echo(JsonFormatter().format(record), err=True)
    else:
        errors.print(message, style="red", markup=False, highlight=False)
    return typer.Exit(code)


def _run(coro):
    """Run ``coro``; a :class:`ConfigurationError` exits 2 (and an :class:`ExportError`: the export
    given cannot be read at all), another tgpipe error 1, each with its message; so does an error
    that a later try may not meet (:func:`tgpipe.errors.is_transient`: a server that does not answer).
    """
    try:
        return asyncio.run(coro)
    except ConfigurationError as exc:
        raise fail(f"invalid configuration: {exc}", 2) from None
    except ExportError as exc:
        raise fail(f"cannot archive: {exc}", 2) from None
    except TgpipeError as exc:
        raise fail(str(exc), 1) from None
    except Exception as exc:
        if not is_transient(exc):
            raise  # a bug: its traceback is what a report needs
        raise fail(f"a server did not answer (try again): {type(exc).__name__}: {exc}", 1) from None


def _settings(**overrides: object) -> Settings:
    """Load settings from the environment; exit 2 with one line naming each invalid variable."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"TGPIPE_{'_'.join(map(str, e['loc'])).upper()}: {e['msg'].removeprefix('Value error, ')}"
                             for e in exc.errors())
        raise fail(f"invalid configuration: {problems}", 2) from None


async def _verify(settings: Settings, expected=None, digest: bool = False, chats: list[int] | None = None):
    from tgpipe.db import create_pool
    from tgpipe.ops.verify import table_digest, verify

    pool = await create_pool(settings.database_url, max_size=1)
    try:
        async with pool.acquire() as conn:
            report = await verify(conn, expected)
            digests = await table_digest(conn) if digest else None
            by_status = dict(await conn.fetch(
                "SELECT status, count(*) FROM media WHERE $1::bigint[] IS NULL OR channel_id = ANY($1) "
                "GROUP BY status", chats))
        return report, digests, by_status
    finally:
        await pool.close()


@app.command()
def archive(export: ExportPath, timezone: TimezoneOpt = None, observed_at: ObservedAtOpt = None) -> None:
    """Archive an export through the real pipeline; print the summary and the verify report.

    Exit 0 only when verify is clean; 2 when the export cannot be read at all (nothing archived).
    Starts the embedded PostgreSQL and broker for whichever of TGPIPE_DATABASE_URL /
    TGPIPE_KAFKA_BOOTSTRAP_SERVERS is unset.
    """
    from tgpipe.ops.archive import archive as run_archive
    from tgpipe.runtime.embedded import embedded_settings
    from tgpipe.cli.render import render_report, render_summary
    from tgpipe.runtime.service import check_idempotent_producer

    logging.basicConfig(level=logging.WARNING)
    with embedded_settings(_settings(export_timezone=timezone, export_observed_at=observed_at)) as settings:
        _run(check_idempotent_producer(settings))
        summary = _run(run_archive(settings, export))
        chats = [channel_id for channel_id, _, _ in summary.chats]
        report, _, by_status = _run(_verify(settings, summary.expected, chats=chats))
    render_summary(console, summary, by_status)
    render_report(console, report)
    raise typer.Exit(0 if report.ok else 1)


@app.command("verify")
def verify_cmd(
    export: Annotated[Path | None, typer.Option("--export", exists=True, help="compare counts with this export")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    digest: Annotated[bool, typer.Option("--digest", help="print the canonical digest of every table")] = False,
    timezone: TimezoneOpt = None,
) -> None:
    """Check the archive's integrity; non-zero exit on any violation."""
    from tgpipe.ops.archive import expected_counts
    from tgpipe.runtime.embedded import embedded_settings
    from tgpipe.cli.render import render_report

    with embedded_settings(_settings(export_timezone=timezone), kafka=False) as settings:
        expected = _or_exit(expected_counts, export, settings) if export else None
        report, digests, _ = _run(_verify(settings, expected, digest))
    if as_json:
        print(json.dumps({**report.as_dict(), **({"digest": digests} if digests else {})}, indent=2))
    else:
        render_report(console, report)
        if digests:
            print_digest(digests)
    raise typer.Exit(0 if report.ok else 1)


def print_digest(digests: dict[str, dict[str, object]]) -> None:
    """One line per table of :func:`tgpipe.ops.verify.table_digest`: sha256, rows, volatile columns left out."""
    for table, value in digests.items():
        details = [f"{value['rows']} rows"] if "rows" in value else []
        if value.get("excluded"):
            details.append(f"excluding {', '.join(value['excluded'])}")
        console.print(f"digest {table}: {value['sha256']}" + (f" ({'; '.join(details)})" if details else ""),
                      soft_wrap=True)


@collector_app.command("export")
def collector_export(path: Annotated[Path, typer.Argument(exists=True)], timezone: TimezoneOpt = None,
                     observed_at: ObservedAtOpt = None) -> None:
    """Publish every message of a Telegram Desktop export to the messages topic (deployed collector).

    Exit 2 when the export cannot be read at all (nothing published)."""
    from services.collector.publish import publish_payloads
    from tgpipe.ops.archive import open_export
    from tgpipe.kafka.broker import ensure_topics, make_broker
    from tgpipe.runtime.service import check_idempotent_producer

    settings = _settings(export_timezone=timezone, export_observed_at=observed_at)
    try:
        settings.require_external()
    except ConfigurationError as exc:
        raise fail(f"invalid configuration: {exc}", 2) from None
    reader = _or_exit(open_export, path, settings)

    refused: list[str] = []

    async def run() -> int:
        await ensure_topics(settings)
        await check_idempotent_producer(settings)
        broker = make_broker(settings, client_id="tgpipe-collector")
        await broker.start()
        try:
            return await publish_payloads(broker, settings, reader.payloads(), source=f"export:{reader.export_root}",
                                          on_refused=lambda _event, reason: refused.append(reason))
        finally:
            await broker.stop()

    published = _run(run())
    console.print(f"published {published} messages to {settings.topic_messages}")
    for problem in [*map(str, reader.problems + reader.repaired), *refused]:
        console.print(f"[red]export problem:[/red] {problem}", soft_wrap=True)


def _or_exit(read, path: Path, settings: Settings):
    """``read(path, settings)``; an export that cannot be read exits 2 with one line."""
    try:
        return read(path, settings)
    except ExportError as exc:
        raise fail(f"cannot read the export: {exc}", 2) from None


def _run_service(client_id: str, register) -> None:
    """Run a deployed service until stopped; exit 2 on configuration no retry can fix, 1 when Kafka
    or PostgreSQL did not answer within TGPIPE_STARTUP_TIMEOUT_S."""
    from tgpipe.logs import configure
    from tgpipe.runtime.service import service_app

    settings = _settings()
    try:
        service = service_app(settings, client_id, register)
    except ConfigurationError as exc:
        raise fail(f"invalid configuration: {exc}", 2) from None
    configure(settings.log_format, settings.log_level)
    _run(service.run())


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
    import functools

    from tgpipe.telegram.session import open_client
    from services.media.app import register_media

    try:
        telegram = open_client(_settings(), receive_updates=False)
    except ConfigurationError as exc:
        raise fail(f"invalid configuration: {exc}", 2) from None
    _run_service("tgpipe-media", functools.partial(register_media, telegram=telegram))


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply database migrations (Alembic) up to REVISION."""
    from tgpipe.db import check_database_url
    from tgpipe.runtime.embedded import embedded_settings
    from tgpipe.db.migrations import upgrade

    with embedded_settings(_settings(), kafka=False) as settings:
        _run(check_database_url(settings.database_url))
        upgrade(settings.database_url, revision)
    console.print(f"database at revision {revision}")


# Registers `login`, `collector telegram` and `collector gaps` on the apps above.
import tgpipe.cli.telegram  # noqa: E402,F401
# Registers `dlq list|show|replay` and `replay`.
import tgpipe.cli.dlq  # noqa: E402,F401
# Registers `status` and `docs gen|serve`.
import tgpipe.cli.docs  # noqa: E402,F401
