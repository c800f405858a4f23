"""Every rich table and summary the CLI prints (``--json`` prints the typed results' JSON instead).

The console is the one the whole CLI writes to (:data:`console`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:  # the jobs import the services; a command imports them when it runs
    from tgpipe.ops.archive import ArchiveSummary
    from tgpipe.ops.coverage import CoverageResult
    from tgpipe.ops.gaps import Gaps
    from tgpipe.ops.status import Status
    from tgpipe.ops.verify import Digest, IntegrityReport

console = Console()


@contextmanager
def archive_progress() -> Iterator[Callable[[int, int, int, int], None]]:
    """Progress bars of ``tgpipe archive`` (published, committed, media), gone once the run ends;
    yields the job's ``on_progress(total, published, committed, processed)``."""
    columns = (TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        stages = [progress.add_task(name, total=None) for name in ("published", "committed", "media")]

        def update(total: int, *done: int) -> None:
            for task, completed in zip(stages, done, strict=True):
                progress.update(task, total=total, completed=completed)

        yield update


def render_summary(summary: ArchiveSummary, media_by_status: dict[str, int]) -> None:
    """Print the archive summary: chats, messages by type, media by status, coverage recorded, time and rate,
    and where each chat resumed when an interrupted run is continued."""
    console.print(f"[bold]Archived[/bold] {summary.export}")
    chats = Table("chat id", "type", "title", title="Chats")
    for chat_id, chat_type, title in summary.chats:
        chats.add_row(str(chat_id), chat_type, title or "")
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
    console.print(_table("Coverage recorded", ["chat id", "message ids", "dates", "source"],
                         [[c.channel.channel_id, f"{c.first_message_id}-{c.last_message_id}",
                           f"{_iso(c.first_date)} .. {_iso(c.last_date)}", c.source] for c in summary.coverage]))
    console.print(f"Elapsed {summary.elapsed_s:.1f} s (start-up included), {summary.published} messages "
                  f"published, {summary.messages_per_s:,.0f} messages/s")
    for chat_id, skipped in sorted(summary.resumed.items()):
        console.print(f"resumed: chat {chat_id} from message #{skipped + 1} in export order ({skipped} "
                      "messages archived by an interrupted run, not published again)", highlight=False)
    if summary.local_time_fallbacks:
        console.print(f"[yellow]{summary.local_time_fallbacks} messages had no date_unixtime: their local "
                      f"`date` was read in time zone {summary.timezone} (set TGPIPE_EXPORT_TIMEZONE or "
                      f"--timezone)[/yellow]")
    for problem in summary.problems:
        console.print(f"[red]export problem:[/red] {problem}")


def render_report(report: IntegrityReport) -> None:
    """Print the integrity report of ``verify``."""
    checks = Table("check", "violations", title="Integrity")
    for name, count in report.checks.items():
        checks.add_row(name, f"[{'red' if count else 'green'}]{count}[/]")
    console.print(checks)
    if report.export:
        table = Table("chat id", "messages (export)", "messages (db)", "photos (export)", "photos (db)",
                      title="Against the export")
        for row in report.export:
            table.add_row(*map(str, (row.chat_id, row.messages_export, row.messages_db, row.photos_export,
                                     row.photos_db)))
        console.print(table)
    console.print("[bold green]verify: clean[/]" if report.ok else "[bold red]verify: VIOLATIONS[/]")


def render_digest(digests: Digest) -> None:
    """One line per table of :func:`tgpipe.ops.verify.table_digest`: sha256, rows, volatile columns left out."""
    for table, value in digests.items():
        details = [f"{value['rows']} rows"] if "rows" in value else []
        if value.get("excluded"):
            details.append(f"excluding {', '.join(value['excluded'])}")
        console.print(f"digest {table}: {value['sha256']}" + (f" ({'; '.join(details)})" if details else ""),
                      soft_wrap=True)


def _table(title: str, columns: list[str], rows: Iterable[list[Any]]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("-" if v is None else str(v) for v in row))
    return table


def render_status(report: Status) -> None:
    """Print ``tgpipe status``: chats, their coverage, media by status, consumer lag per partition, dead letters."""
    console.print(_table("Chats", ["chat id", "title", "messages", "deleted", "newest message", "last archived"],
                         [[c.chat_id, c.title, c.messages, c.deleted, _iso(c.newest_message), _iso(c.last_archived)]
                          for c in report.chats]))
    console.print(coverage_table(report.coverage))
    console.print(_table("Media by status", ["status", "media"], [[k, v] for k, v in report.media.items()]))
    console.print(_table("Consumer lag", ["group", "topic", "partition", "committed", "high watermark", "lag"],
                         [[g.group, g.topic, p.partition, p.committed, p.high_watermark, p.lag]
                          for g in report.consumer_groups for p in g.partitions]))
    console.print(report.lag_note, soft_wrap=True)
    for group in report.consumer_groups:
        if group.end_offsets_suspect:
            console.print(f"[yellow]{group.group}: an end offset is behind a committed offset: this broker's end "
                          "offsets are wrong (Tansu), and so is the lag[/yellow]", soft_wrap=True)
    letters = report.dead_letters
    console.print(f"dead letters: {letters.total}" + "".join(
        f"\n  {cls}: {n}" for cls, n in letters.by_error_class.items()), soft_wrap=True)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _spans(pairs: list[tuple[Any, Any]], show: Callable[[Any], Any] = str, limit: int = 10, dash: str = "-") -> str:
    """``a-b, c-d …`` (``a`` alone when ``a == b``; ``dash`` between), the first ``limit`` pairs;
    ``-`` when none."""
    text = ", ".join(show(a) if a == b else f"{show(a)}{dash}{show(b)}" for a, b in pairs[:limit])
    return (text + (" …" if len(pairs) > limit else "")) or "-"


def coverage_table(coverage: list[CoverageResult]) -> Table:
    """Per chat: covered message ids and dates, their holes, and the ledger's sources."""
    return _table("Coverage", ["chat id", "covered ids", "id holes", "covered dates", "date holes", "sources"],
                  [[c.chat_id, _spans(c.ids), _spans(c.id_holes), _spans(c.dates, _iso, dash=" .. "),
                    _spans(c.date_holes, _iso, dash=" .. "), ", ".join(sorted({r.source for r in c.ranges})) or "-"]
                   for c in coverage])


def render_collection(results: Iterable[Any]) -> None:
    """Print the per-channel outcome of ``tgpipe collector telegram`` (``ChannelResult`` s)."""
    table = Table("channel", "id", "title", "published", "deleted", "status", title="Telegram collection")
    for r in results:
        table.add_row(r.ref, str(r.peer.channel_id) if r.peer else "", r.peer.title or "" if r.peer else "",
                      str(r.published), str(r.deleted), "[green]ok[/]" if r.ok else f"[red]stopped[/]: {r.stopped}")
    console.print(table)


def render_gaps(found: Gaps) -> None:
    """Print ``tgpipe collector gaps`` (with the re-fetch columns when the ids were re-fetched), then
    the chats' coverage."""
    table = Table("chat id", "missing ids", "ranges", *(("recovered", "absent on Telegram") if found.refetched else ()),
                  title="Gaps")
    for report in found.chats:
        ranges = _spans(report.gaps, limit=20)
        extra = (str(report.recovered), str(len(report.absent))) if found.refetched else ()
        table.add_row(str(report.chat_id), str(report.missing), ranges, *extra)
    console.print(table)
    console.print(coverage_table(found.coverage))
