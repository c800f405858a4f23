"""``tgpipe archive`` and ``tgpipe verify``: the whole pipeline on one export, and the integrity check."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated

import typer

from tgpipe.cli import status_codes
from tgpipe.cli.base import CommandTyper
from tgpipe.cli.options import ExportPath, JsonOpt, ObservedAtOpt, TimezoneOpt, load_settings, read_export
from tgpipe.cli.render import archive_progress, render_digest, render_report, render_summary

app = CommandTyper()


@app.command()
def archive(export: ExportPath, timezone: TimezoneOpt = None, observed_at: ObservedAtOpt = None) -> None:
    """Archive an export through the real pipeline; print the summary and the verify report.

    Exit 0 only when verify is clean; 2 when the export cannot be read at all (nothing archived).
    Starts the embedded PostgreSQL and broker for whichever of TGPIPE_DATABASE_URL /
    TGPIPE_KAFKA_BOOTSTRAP_SERVERS is unset.
    """
    from tgpipe.ops.archive import archive as run_archive
    from tgpipe.ops.verify import check_archive
    from tgpipe.runtime.embedded import embedded_settings

    logging.basicConfig(level=logging.WARNING)
    with embedded_settings(load_settings(export_timezone=timezone, export_observed_at=observed_at)) as settings:
        with archive_progress() as on_progress:
            summary = asyncio.run(run_archive(settings, export, on_progress=on_progress))
        chats = [chat_id for chat_id, _, _ in summary.chats]
        check = asyncio.run(check_archive(settings.database_url, summary.expected, chats=chats))
    render_summary(summary, check.media_by_status)
    render_report(check.report)
    raise typer.Exit(status_codes.SUCCESS if check.report.ok else status_codes.VIOLATIONS_FOUND)


@app.command("verify")
def verify_cmd(
    export: Annotated[Path | None, typer.Option("--export", exists=True, help="compare counts with this export")] = None,
    as_json: JsonOpt = False,
    digest: Annotated[bool, typer.Option("--digest", help="print the canonical digest of every table")] = False,
    timezone: TimezoneOpt = None,
) -> None:
    """Check the archive's integrity; non-zero exit on any violation."""
    from tgpipe.ops.exports import expected_counts
    from tgpipe.ops.verify import check_archive
    from tgpipe.runtime.embedded import embedded_settings

    with embedded_settings(load_settings(export_timezone=timezone), kafka=False) as settings:
        expected = read_export(expected_counts, export, settings) if export else None
        check = asyncio.run(check_archive(settings.database_url, expected, digest=digest))
    if as_json:
        print(check.report.to_json())
    else:
        render_report(check.report)
        if check.report.digest:
            render_digest(check.report.digest)
    raise typer.Exit(status_codes.SUCCESS if check.report.ok else status_codes.VIOLATIONS_FOUND)
