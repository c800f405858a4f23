"""The operator commands: ``tgpipe dlq list|show|replay`` and ``tgpipe replay``.

Registered on :data:`tgpipe.cli.app` when :mod:`tgpipe.cli` is imported. Both need a broker that
keeps its topics (``TGPIPE_KAFKA_BOOTSTRAP_SERVERS``): the embedded one lives only for one run.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated

import typer

from tgpipe.cli import _run, _settings, app, console, fail, print_digest
from tgpipe.errors import ConfigurationError
from tgpipe.settings import Settings

dlq_app = typer.Typer(help="See the dead letters and send them back once the cause is fixed.",
                      no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")

IdleOpt = Annotated[float, typer.Option("--idle-seconds", min=0.1,
                                        help="stop reading once no dead letter arrived for this long")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def _broker_settings(**overrides: object) -> Settings:
    settings = _settings(**overrides)
    if not settings.kafka_bootstrap_servers:
        raise fail("invalid configuration: TGPIPE_KAFKA_BOOTSTRAP_SERVERS must be set "
                   "(the embedded broker keeps nothing between runs)", 2)
    return settings


@dlq_app.command("list")
def dlq_list(idle_seconds: IdleOpt = 2.0, as_json: JsonOpt = False) -> None:
    """One line per dead letter: where it is (partition@offset), where it came from, key, message, error."""
    from tgpipe.kafka.dead_letters import read_dead_letters

    settings = _broker_settings()
    letters = _run(read_dead_letters(settings, idle_s=idle_seconds))
    if as_json:
        print(json.dumps([d.as_dict() for d in letters], indent=2, ensure_ascii=False))
        return
    for letter in letters:
        typer.echo(letter.line())
    console.print(f"{len(letters)} dead letter(s) on {settings.topic_dead_letter}")


@dlq_app.command("show")
def dlq_show(offset: Annotated[int, typer.Argument(min=0)],
             partition: Annotated[int, typer.Option("--partition", "-p", min=0)] = 0,
             idle_seconds: IdleOpt = 2.0) -> None:
    """Print one dead letter's headers and value (indented JSON when it is JSON, else the bytes' repr)."""
    from tgpipe.kafka.dead_letters import read_dead_letter, render_value

    letter = _run(read_dead_letter(_broker_settings(), partition, offset, idle_s=idle_seconds))
    typer.echo(f"dead letter {letter.where}")
    typer.echo(f"key: {letter.key!r}")
    typer.echo(f"record: {letter.record}")
    for name, value in letter.headers.items():
        typer.echo(f"header {name}: {value.decode('utf-8', 'replace')}")
    typer.echo("value:")
    typer.echo(render_value(letter.value))


@dlq_app.command("replay")
def dlq_replay(
    offsets: Annotated[list[int] | None, typer.Argument(help="dead-letter offsets in --partition")] = None,
    partition: Annotated[int | None, typer.Option("--partition", "-p", min=0,
                                                  help="only this dead-letter partition")] = None,
    replay_all: Annotated[bool, typer.Option(
        "--all", help="every dead letter (of --partition, if given)")] = False,
    error_class: Annotated[str | None, typer.Option(
        "--error-class", help="only dead letters of this error class")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="say what would be sent, send nothing")] = False,
    idle_seconds: IdleOpt = 2.0,
) -> None:
    """Send dead letters back to their source topic, unchanged, with their key (fix the cause first).

    Select OFFSETS of one --partition, or --all (optionally narrowed by --partition and
    --error-class). Each record gets the header tgpipe-replayed-from; consumers are idempotent,
    so replaying one twice does no harm.
    """
    from tgpipe.kafka.dead_letters import read_dead_letters, replay, select

    if bool(offsets) == replay_all or (offsets and partition is None):
        raise fail("say which dead letters: OFFSET... --partition P, or --all", 2)
    settings = _broker_settings()

    async def run():
        letters = select(await read_dead_letters(settings, idle_s=idle_seconds), partition=partition,
                         offsets=offsets or (), error_class=error_class)
        missing = sorted(set(offsets or ()) - {d.offset for d in letters})
        return letters, missing, await replay(settings, letters, dry_run=dry_run)

    letters, missing, results = _run(run())
    for result in results:
        outcome = f"sent to {result.sent_to}" if result.sent_to else f"skipped: {result.skipped}"
        typer.echo(f"{result.letter.partition}@{result.letter.offset}  {result.letter.record}  {outcome}")
    for offset in missing:
        typer.echo(f"{partition}@{offset}  no such dead letter")
    sent = sum(r.sent_to is not None for r in results)
    console.print(f"{'would send' if dry_run else 'sent'} {sent} of {len(letters)} selected dead letter(s)")
    raise typer.Exit(1 if missing or sent < len(letters) else 0)


@app.command("replay")
def replay_cmd(
    group: Annotated[str, typer.Option(
        "--group", help="a NEW consumer group for the writer (media: GROUP-media)")],
    start: Annotated[str, typer.Option("--from", help="earliest, an offset for every partition, or P:N,P:N")]
    = "earliest",
    until: Annotated[str | None, typer.Option(
        "--until-offset",
        help="P:N,…: done once each listed partition is consumed up to N (exclusive)")] = None,
    idle_seconds: Annotated[float, typer.Option(
        "--idle-seconds", min=0.1,
        help="without --until-offset: done once the writer got nothing for this long, after its first "
             "batch (must exceed a rebalance pause)")] = 10.0,
    database_url: Annotated[str | None, typer.Option(
        "--database-url",
        help="the database to rebuild (default TGPIPE_DATABASE_URL); migrated first")] = None,
    writers: Annotated[int, typer.Option("--writers", min=1, help="writer replicas in this process")] = 1,
    as_json: JsonOpt = False,
) -> None:
    """Rebuild a database from the messages topic with a fresh consumer group, then print its digest.

    Photos of live-collected messages are downloaded through the Telegram session when one is
    configured (as by `tgpipe media`).
    """
    from tgpipe.telegram.session import open_client
    from tgpipe.ops.replay import parse_offsets, replay, replay_settings

    try:
        first = "earliest" if start == "earliest" else parse_offsets(start)
        last = parse_offsets(until) if until else None
    except ValueError as exc:
        raise fail(f"invalid offsets: {exc}", 2) from None
    if isinstance(last, int):
        raise fail("invalid offsets: --until-offset takes P:N pairs", 2)
    settings = replay_settings(_broker_settings(), group, database_url)
    try:
        telegram = open_client(settings, receive_updates=False)
    except ConfigurationError as exc:
        raise fail(f"invalid configuration: {exc}", 2) from None
    logging.basicConfig(level=logging.WARNING)
    summary = _run(replay(settings, start=first, until=last, idle_s=idle_seconds, writers=writers,
                          telegram=telegram))
    if as_json:
        print(json.dumps(summary.as_dict(), indent=2))
        return
    console.print(f"replayed {settings.topic_messages} from {summary.start} in group {summary.group} "
                  f"(media: {summary.media_group}, via {summary.committed_topic}, now deleted)",
                  soft_wrap=True)
    batches = ", ".join(map(str, summary.batches_per_writer))
    per_writer = " per writer" if len(summary.batches_per_writer) > 1 else ""
    console.print(f"{summary.records} records consumed in {batches} batches{per_writer}, {summary.messages} "
                  f"messages written, {summary.media} messages' media processed, {summary.elapsed_s:.1f} s",
                  soft_wrap=True)
    print_digest(summary.digest)
