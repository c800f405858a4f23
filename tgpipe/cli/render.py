"""Human output of ``archive`` and ``verify`` (rich tables). JSON output is the reports' ``as_dict``."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from tgpipe.ops.archive import ArchiveSummary
from tgpipe.ops.verify import IntegrityReport


def render_summary(console: Console, summary: ArchiveSummary, media_by_status: dict[str, int]) -> None:
    """Print the archive summary: chats, messages by type, media by status, time and rate."""
    console.print(f"[bold]Archived[/bold] {summary.export}")
    chats = Table("chat id", "type", "title", title="Chats")
    for channel_id, chat_type, title in summary.chats:
        chats.add_row(str(channel_id), chat_type, title or "")
    console.print(chats)
    kinds = Table("type", "messages", title="Messages by type")
    for kind, count in sorted(summary.messages_by_kind.items()):
        kinds.add_row(kind, str(count))
    kinds.add_row("[bold]total[/bold]", str(sum(summary.messages_by_kind.values())))
    console.print(kinds)
    media = Table("status", "media", title="Media by status")
    for status, count in sorted(media_by_status.items()):
        media.add_row(status, str(count))
    console.print(media)
    console.print(f"Elapsed {summary.elapsed_s:.1f} s (start-up included), {summary.published} messages "
                  f"published, {summary.messages_per_s:,.0f} messages/s")
    if summary.local_time_fallbacks:
        console.print(f"[yellow]{summary.local_time_fallbacks} messages had no date_unixtime: their local "
                      f"`date` was read in time zone {summary.timezone} (set TGPIPE_EXPORT_TIMEZONE or "
                      f"--timezone)[/yellow]")
    for problem in summary.problems:
        console.print(f"[red]export problem:[/red] {problem}")


def render_report(console: Console, report: IntegrityReport) -> None:
    """Print the integrity report of ``verify``."""
    checks = Table("check", "violations", title="Integrity")
    for name, count in report.checks.items():
        checks.add_row(name, f"[{'red' if count else 'green'}]{count}[/]")
    console.print(checks)
    if report.export:
        table = Table("chat id", "messages (export)", "messages (db)", "photos (export)", "photos (db)",
                      title="Against the export")
        for row in report.export:
            table.add_row(*(str(row[k]) for k in ("channel_id", "messages_export", "messages_db",
                                                   "photos_export", "photos_db")))
        console.print(table)
    console.print("[bold green]verify: clean[/]" if report.ok else "[bold red]verify: VIOLATIONS[/]")
