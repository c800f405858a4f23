"""``tgpipe status`` (:mod:`tgpipe.ops.status`) and ``tgpipe docs gen|serve``: the AsyncAPI document
generated from the FastStream apps (:mod:`tgpipe.ops.asyncapi`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tgpipe.cli import app, console
from tgpipe.cli.dlq import IdleOpt, JsonOpt, _broker_settings, _run

docs_app = typer.Typer(help="The AsyncAPI document of tgpipe's topics and events.", no_args_is_help=True)
app.add_typer(docs_app, name="docs")


@docs_app.command("gen")
def docs_gen(
    out: Annotated[Path | None, typer.Option("--out", help="where to write it (default docs/asyncapi/asyncapi.yaml)")]
    = None,
) -> None:
    """Generate the AsyncAPI 3.0 document from the writer, media and collector apps (default settings)."""
    from tgpipe.ops.asyncapi import SPEC_PATH, render, specification

    target = out or SPEC_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(specification()), encoding="utf-8")
    console.print(f"wrote {target}")


@docs_app.command("serve")
def docs_serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
) -> None:
    """Serve the AsyncAPI document as HTML (FastStream's viewer) until Ctrl-C."""
    from faststream.specification.asyncapi.site import serve_app

    from tgpipe.ops.asyncapi import load_specification, specification

    serve_app(load_specification(specification()), host, port)


@app.command("status")
def status_cmd(idle_seconds: IdleOpt = 2.0, as_json: JsonOpt = False) -> None:
    """Per-channel counts and newest message, media by status, consumer lag per group, dead letters."""
    from tgpipe.ops.status import status

    report = _run(status(_broker_settings(), idle_s=idle_seconds))
    if as_json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return
    _print_status(report)


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("-" if v is None else str(v) for v in row))
    return table


def _print_status(report: dict[str, Any]) -> None:
    console.print(_table("Channels", ["chat id", "title", "messages", "deleted", "newest message", "last archived"],
                         [[c["channel_id"], c["title"], c["messages"], c["deleted"], c["newest_message"],
                           c["last_archived"]] for c in report["channels"]]))
    console.print(_table("Media by status", ["status", "media"], [[k, v] for k, v in report["media"].items()]))
    console.print(_table("Consumer lag", ["group", "topic", "partition", "committed", "high watermark", "lag"],
                         [[g["group"], g["topic"], p["partition"], p["committed"], p["high_watermark"], p["lag"]]
                          for g in report["consumer_groups"] for p in g["partitions"]]))
    console.print(report["lag_note"], soft_wrap=True)
    for group in report["consumer_groups"]:
        if group["end_offsets_suspect"]:
            console.print(f"[yellow]{group['group']}: an end offset is behind a committed offset: this broker's end "
                          "offsets are wrong (Tansu), and so is the lag[/yellow]", soft_wrap=True)
    letters = report["dead_letters"]
    console.print(f"dead letters: {letters['total']}" + "".join(
        f"\n  {cls}: {n}" for cls, n in letters["by_error_class"].items()), soft_wrap=True)
