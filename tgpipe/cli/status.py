"""``tgpipe status``: per-chat counts, media by status, consumer lag, dead letters (:mod:`tgpipe.ops.status`)."""

from __future__ import annotations

import asyncio

from tgpipe.cli.base import CommandTyper
from tgpipe.cli.options import IdleOpt, JsonOpt, broker_settings
from tgpipe.cli.render import render_status

app = CommandTyper()


@app.command("status")
def status_cmd(idle_seconds: IdleOpt = 2.0, as_json: JsonOpt = False) -> None:
    """Per-chat counts and newest message, media by status, consumer lag per group, dead letters."""
    from tgpipe.ops.status import status

    report = asyncio.run(status(broker_settings(), idle_s=idle_seconds))
    if as_json:
        print(report.to_json())
        return
    render_status(report)
