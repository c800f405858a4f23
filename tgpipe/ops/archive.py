"""``tgpipe archive``: collector, writer and media service wired together, each in its own process.

The collector (reading and publishing the export, and the progress) runs in this process; the
writer and the media service each in a child process (:mod:`tgpipe.runtime.children`), so the
three use three interpreters (cores). The services run exactly as deployed (their own Kafka
clients and consumer groups); this module only starts them, publishes the export (its messages, then a range-complete marker per chat), and
waits until every published message has been committed by the writer and processed by the media
service, and every marker recorded in the coverage ledger. Completion is observed through
the services' hooks (message keys), never through topic end offsets.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from schemas import MessageUpserted, RangeCompletedPayload
from services.collector.publish import publish_export
from tgpipe.kafka.broker import ensure_topics, running_broker
from tgpipe.kafka.dead_letters import DeadLetter, watch_dead_letters
from tgpipe.db import connection
from tgpipe.db.checkpoints import clear_checkpoints, load_checkpoints
from tgpipe.db.migrations import upgrade
from tgpipe.runtime.children import service_processes
from tgpipe.runtime.progress import ProgressTracker, Stage
from tgpipe.runtime.service import check_idempotent_producer
from tgpipe.settings import Settings
from tgpipe.ops.exports import ExportTally, export_identity, open_export
from tgpipe.ops.resume import ResumeLog, keep_checkpoints, save_last_checkpoints
from tgpipe.ops.verify import ExportCounts


@dataclass
class ArchiveSummary:
    """What ``archive`` did: counts from the export and the run, for the printed summary."""

    export: Path
    chats: list[tuple[int, str, str | None]]
    messages_by_kind: Counter
    published: int
    elapsed_s: float
    local_time_fallbacks: int
    timezone: str | None
    problems: list[str] = field(default_factory=list)
    expected: ExportCounts = field(default_factory=ExportCounts)
    coverage: list[RangeCompletedPayload] = field(default_factory=list)
    """The range-complete markers of this run the writer recorded (chat, ids, dates), in chat-id order."""
    resumed: dict[int, int] = field(default_factory=dict)
    """``{chat id: payloads}`` not published again because an interrupted run of the same export had
    archived them for good: the first ones of the chat in export order, all but the last of its
    checkpoint (that one is published again: :mod:`tgpipe.ops.resume`)."""

    @property
    def messages_per_s(self) -> float:
        """Published messages divided by elapsed wall-clock seconds."""
        return self.published / self.elapsed_s if self.elapsed_s else 0.0


#: Milliseconds a dead letter's timestamp may lie before the run's start and still be about this
#: run (the services writing them run on this machine; the broker stamps create time).
CLOCK_SKEW_MS = 1000

#: ``on_progress(total, published, committed, processed)``: message counts of the export and of
#: each stage so far (the CLI draws them as progress bars). ``total`` is the export's message
#: entries until the stream has been read to its end, then the valid messages among them.
ProgressCallback = Callable[[int, int, int, int], None]


async def archive(settings: Settings, export: Path, *, stall_timeout: float = 120.0,
                  on_progress: ProgressCallback | None = None) -> ArchiveSummary:
    """Archive one Telegram Desktop export through the pipeline into the configured database.

    Args:
        settings: with ``database_url`` and ``kafka_bootstrap_servers`` set (the CLI fills them
            from the embedded default when unset).
        export: the export folder (or its ``result.json``); the media service run here reads
            files of this export only (its ``media_export_roots`` is just this folder).
        stall_timeout: seconds without progress before giving up.
        on_progress: called after every published, committed and processed message.

    An interrupted run of the same export (same identity, :func:`~tgpipe.ops.exports.export_identity`)
    into the same database is resumed: each chat's payloads it archived for good are not published
    again, but the last of them (:attr:`ArchiveSummary.resumed`); the checkpoints are saved once
    more however the run ends, and forgotten once it completes.

    Raises:
        ExportError: the export cannot be read (checked first: nothing is connected to before).
        ConfigurationError: the broker refuses the idempotent producer while it is configured.
        PipelineStalled: the services stopped making progress.
        ServiceProcessDied: the writer's or the media service's process exited (crashed, killed).
    """
    started, started_ms = time.monotonic(), int(time.time() * 1000)
    reader, tally = open_export(export, settings), ExportTally()
    identity = export_identity(reader)
    # The media service run here reads this export's files and nothing else (TGPIPE_MEDIA_EXPORT_ROOTS).
    settings = settings.model_copy(update={"media_export_roots": (reader.export_root.resolve(),)})
    database_url, _ = settings.require_external()
    await asyncio.to_thread(upgrade, database_url)
    await ensure_topics(settings)
    await check_idempotent_producer(settings)
    async with connection(database_url) as conn:
        # A window of twice a writer batch after each resumed chat's checkpoint may be found stored.
        resume = ResumeLog(await load_checkpoints(conn, identity), window=2 * settings.writer_batch_max_records)
    skipped, wake = sum(resume.skip.values()), asyncio.Event()

    def refresh() -> None:
        wake.set()
        if on_progress:  # a superseded message is decided: committed and processed as far as progress goes
            total = (tally.payloads if tally.finished else reader.entries) - skipped
            on_progress(total, len(tracker.published), tracker.count(Stage.COMMITTED | Stage.SUPERSEDED),
                        tracker.count(Stage.PROCESSED | Stage.SUPERSEDED))

    def on_dead_letter(letter: DeadLetter) -> None:  # letters of earlier runs are not about this one
        if letter.timestamp_ms >= started_ms - CLOCK_SKEW_MS:
            tracker.on_dead_letter(letter)

    tracker = ProgressTracker(on_change=refresh)
    refused: list[str] = []
    try:
        async with (service_processes(settings, tracker),
                    running_broker(settings, client_id="tgpipe-collector") as collector):
            # A message a service dead-letters ends the wait too, and is reported (never a stall).
            watcher = asyncio.create_task(watch_dead_letters(settings, on_dead_letter))
            keeper = asyncio.create_task(keep_checkpoints(database_url, identity, resume, tracker, wake))

            def on_refused(event: MessageUpserted, reason: str) -> None:
                refused.append(reason)
                resume.refused.add((event.payload.message.channel_id, event.payload.message.message_id))
                wake.set()

            try:
                payloads = resume.order(tally.count(reader.payloads()))
                published, markers = await publish_export(collector, settings, payloads,
                                                          source=f"export:{reader.export_root}",
                                                          on_acked=tracker.on_published, on_marked=tracker.on_marked,
                                                          on_refused=on_refused, skip=resume.skip)
                await tracker.wait_until(lambda: tracker.done, stall_timeout)
            finally:
                for task in (watcher, keeper):
                    task.cancel()
                await asyncio.gather(watcher, keeper, return_exceptions=True)
    finally:  # however it ended, the children's last reports are applied: keep what they settled
        with contextlib.suppress(OSError, asyncpg.PostgresError):  # never hiding why the run ended
            await save_last_checkpoints(database_url, identity, resume, tracker)
    async with connection(database_url) as conn:
        await clear_checkpoints(conn, identity)

    return ArchiveSummary(
        export=reader.export_root,
        chats=[(c.channel_id, c.type, c.title) for c in reader.chats],
        messages_by_kind=tally.kinds,
        published=published,
        elapsed_s=time.monotonic() - started,
        local_time_fallbacks=reader.local_time_fallbacks,
        timezone=settings.export_timezone,
        problems=[str(p) for p in reader.problems + reader.repaired] + [
            f"message {u.message_id} in chat {u.chat_id}: media path {u.path!r} refused: {u.reason}"
            for u in reader.unsafe_paths] + refused + [
            f"message {m} in chat {c}: dead-lettered, not archived ({reason}; see `tgpipe dlq`)"
            for (c, m), reason in sorted(tracker.dead_lettered.items())] + [
            f"coverage marker of chat {tracker.marked[e].payload.channel.channel_id}: dead-lettered, not recorded "
            f"({reason})" for e, reason in tracker.markers_dead_lettered.items()],
        expected=tally.expected,
        coverage=[m.payload for m in markers if m.event_id in tracker.covered],
        resumed=resume.skip,
    )
