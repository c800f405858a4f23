"""``tgpipe dlq list|show|replay``: see the dead letters and send them back once the cause is fixed.

Needs a broker that keeps its topics (``TGPIPE_KAFKA_BOOTSTRAP_SERVERS``): the embedded one lives
only for one run.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

from tgpipe.cli import status_codes
from tgpipe.cli.base import CommandFailed, CommandTyper
from tgpipe.cli.options import IdleOpt, JsonOpt, broker_settings
from tgpipe.cli.render import console

app = CommandTyper(help="See the dead letters and send them back once the cause is fixed.", no_args_is_help=True)


@app.command("list")
def dlq_list(idle_seconds: IdleOpt = 2.0, as_json: JsonOpt = False) -> None:
    """One line per dead letter: where it is (partition@offset), where it came from, key, message, error."""
    from tgpipe.kafka.dead_letters import read_dead_letters

    settings = broker_settings()
    letters = asyncio.run(read_dead_letters(settings, idle_s=idle_seconds))
    if as_json:
        print(json.dumps([d.as_dict() for d in letters], indent=2, ensure_ascii=False))
        return
    for letter in letters:
        typer.echo(letter.line())
    console.print(f"{len(letters)} dead letter(s) on {settings.topic_dead_letter}")


@app.command("show")
def dlq_show(offset: Annotated[int, typer.Argument(min=0)],
             partition: Annotated[int, typer.Option("--partition", "-p", min=0)] = 0,
             idle_seconds: IdleOpt = 2.0) -> None:
    """Print one dead letter's headers and value (indented JSON when it is JSON, else the bytes' repr)."""
    from tgpipe.kafka.dead_letters import read_dead_letter, render_value

    letter = asyncio.run(read_dead_letter(broker_settings(), partition, offset, idle_s=idle_seconds))
    typer.echo(f"dead letter {letter.where}")
    typer.echo(f"key: {letter.key!r}")
    typer.echo(f"record: {letter.record}")
    for name, value in letter.headers.items():
        typer.echo(f"header {name}: {value.decode('utf-8', 'replace')}")
    typer.echo("value:")
    typer.echo(render_value(letter.value))


@app.command("replay")
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
    from tgpipe.kafka.dead_letters import read_dead_letters, replay_dead_letters, select

    if bool(offsets) == replay_all or (offsets and partition is None):
        raise CommandFailed("say which dead letters: OFFSET... --partition P, or --all")
    settings = broker_settings()

    async def run():
        letters = select(await read_dead_letters(settings, idle_s=idle_seconds), partition=partition,
                         offsets=offsets or (), error_class=error_class)
        missing = sorted(set(offsets or ()) - {d.offset for d in letters})
        return letters, missing, await replay_dead_letters(settings, letters, dry_run=dry_run)

    letters, missing, results = asyncio.run(run())
    for result in results:
        outcome = f"sent to {result.sent_to}" if result.sent_to else f"skipped: {result.skipped}"
        typer.echo(f"{result.letter.partition}@{result.letter.offset}  {result.letter.record}  {outcome}")
    for offset in missing:
        typer.echo(f"{partition}@{offset}  no such dead letter")
    sent = sum(r.sent_to is not None for r in results)
    console.print(f"{'would send' if dry_run else 'sent'} {sent} of {len(letters)} selected dead letter(s)")
    raise typer.Exit(status_codes.FAILED if missing or sent < len(letters) else status_codes.SUCCESS)
