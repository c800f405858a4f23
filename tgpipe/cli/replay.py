"""``tgpipe replay``: rebuild a database from the messages topic with a fresh consumer group.

Needs a broker that keeps its topics (``TGPIPE_KAFKA_BOOTSTRAP_SERVERS``): the embedded one lives
only for one run.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Annotated

import typer

from tgpipe.cli.base import CommandFailed, CommandTyper
from tgpipe.cli.options import JsonOpt, broker_settings
from tgpipe.cli.render import console, render_digest

app = CommandTyper()


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
    from tgpipe.ops.replay import parse_offsets, replay_settings, replay_topic
    from tgpipe.telegram.session import open_client

    try:
        first = "earliest" if start == "earliest" else parse_offsets(start)
        last = parse_offsets(until) if until else None
    except ValueError as exc:
        raise CommandFailed(f"invalid offsets: {exc}") from None
    if isinstance(last, int):
        raise CommandFailed("invalid offsets: --until-offset takes P:N pairs")
    settings = replay_settings(broker_settings(), group, database_url)
    telegram = open_client(settings, receive_updates=False)
    logging.basicConfig(level=logging.WARNING)
    summary = asyncio.run(replay_topic(settings, start=first, until=last, idle_s=idle_seconds, writers=writers,
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
    render_digest(summary.digest)
