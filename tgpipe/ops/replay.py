"""``tgpipe replay``: rebuild a database from the messages topic with a fresh consumer group.

The writer runs exactly as deployed (same code, same batches, same idempotent upserts), in a new
consumer group that starts at ``--from`` (the earliest offsets, or given ones), against the target
database, which is migrated first. The media service runs too, in a new group of its own, so
media rows are rebuilt as well.

**Media reads a committed topic of the replay's own** (``<committed topic>.replay.<group>``), not
the shared one. On the shared committed topic, a fresh media group reading from the earliest
offsets would also see every committed event of earlier runs: for a message the replay has not
written (yet) into the target database, its media row would fail the foreign key and be
dead-lettered, and the deployed media service would meanwhile process the replay's events against
*its* database. Idempotency makes duplicates harmless, not foreign keys satisfied. The private
topic holds exactly the messages this replay committed, so every media row's message exists. It
is deleted once the replay has finished (kept if the replay fails, for a look).

**When it is done** (end offsets are never used: the local broker reports them wrong):

* with ``until`` (``--until-offset P:N,…``): once every listed partition has been consumed up to
  offset N (exclusive). It says when to stop, it is not a filter: the rest of the batch that
  reached N is written too, and unlisted partitions are consumed meanwhile but not waited for;
* otherwise: once the writers have received at least one batch and then nothing at all for
  ``idle_s`` seconds (no batch received, none in progress). ``idle_s`` must exceed the longest
  pause of a healthy consumer (a group rebalance: about the session timeout); a writer that is
  still retrying a transient error is not idle, since its batch is in progress.

Then it waits until the media service has processed every message the writers committed. What
the replay guarantees is what the writer guarantees: every event is applied idempotently (a
message row is only replaced by a strictly newer edit; a sender's name is the one of its newest
message), so replaying into an empty database yields the archive's state (equal
:func:`tgpipe.ops.verify.table_digest`), and replaying again changes nothing. Media files are read
again from the export paths recorded in the events.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition
from faststream import BaseMiddleware

from tgpipe.telegram.client import TelegramClient
from tgpipe.runtime.inprocess import running_services
from tgpipe.runtime.progress import ProgressTracker
from tgpipe.kafka.admin import admin_client, offsets_consumer
from tgpipe.kafka.broker import ensure_topics
from tgpipe.db import connection
from tgpipe.errors import TgpipeError
from tgpipe.db.migrations import upgrade
from tgpipe.settings import Settings
from tgpipe.ops.verify import Digest, table_digest

Offsets = dict[int, int]


class ReplayError(TgpipeError):
    """The replay cannot start (group not fresh, topic missing) or did not finish."""


def parse_offsets(text: str) -> Offsets | int:
    """``"120"`` → ``120`` (every partition); ``"0:120,2:40"`` → ``{0: 120, 2: 40}``.

    Raises:
        ValueError: anything else, or a negative number.
    """
    text = text.strip()
    if re.fullmatch(r"\d+", text):
        return int(text)
    if not re.fullmatch(r"\d+:\d+(,\d+:\d+)*", text):
        raise ValueError(f"{text!r} is neither an offset (120) nor partition:offset pairs (0:120,2:40)")
    return {int(p): int(o) for p, o in (pair.split(":") for pair in text.split(","))}


@dataclass
class WriterWatch:
    """What the writer replicas consumed, observed through a FastStream middleware on their brokers.

    ``done_offsets``: the highest offset per partition of the batches processed without error
    (their offsets are then committed). A batch counts as in progress from its receipt until its
    handler returns (retries of transient errors included).
    """

    records: int = 0
    batches: Counter = field(default_factory=Counter)  # broker index -> batches received
    in_progress: int = 0
    last_activity: float = field(default_factory=time.monotonic)
    done_offsets: Offsets = field(default_factory=dict)

    def middleware(self, replica: int) -> type[BaseMiddleware]:
        """A middleware class feeding this watch, for the writer broker number ``replica``."""
        watch = self

        class Watching(BaseMiddleware):
            async def on_receive(self) -> None:
                if isinstance(self.msg, tuple):  # a batch of aiokafka records (not a publish)
                    watch.records += len(self.msg)
                    watch.batches[replica] += 1
                    watch.in_progress += 1
                    watch.last_activity = time.monotonic()

            async def after_processed(self, exc_type=None, exc_val=None, exc_tb=None) -> bool:
                if isinstance(self.msg, tuple):
                    watch.in_progress -= 1
                    watch.last_activity = time.monotonic()
                    if exc_type is None:
                        for record in self.msg:
                            watch.done_offsets[record.partition] = max(
                                record.offset, watch.done_offsets.get(record.partition, -1))
                return False

        return Watching

    def reached(self, until: Offsets) -> bool:
        """Every partition of ``until`` consumed up to its offset (exclusive)."""
        return all(self.done_offsets.get(p, -1) + 1 >= offset for p, offset in until.items())

    def idle_for(self) -> float:
        """Seconds since the last batch was received or finished (0 while one is in progress)."""
        return 0.0 if self.in_progress else time.monotonic() - self.last_activity


@dataclass
class ReplaySummary:
    """What a replay did."""

    group: str
    media_group: str
    committed_topic: str
    start: str
    records: int
    messages: int
    media: int
    batches_per_writer: list[int]
    elapsed_s: float
    digest: Digest

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


def replay_settings(settings: Settings, group: str, database_url: str | None = None) -> Settings:
    """``settings`` for a replay in consumer group ``group``: its media group ``<group>-media``, its
    private committed topic, and the target database when given."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", group)
    update: dict[str, object] = {"writer_group": group, "media_group": f"{group}-media",
                                 "topic_committed": f"{settings.topic_committed}.replay.{safe}"}
    if database_url:
        update["database_url"] = database_url
    return settings.model_copy(update=update)


async def _start_group(settings: Settings, start: str | int | Offsets) -> None:
    """Check that the writer group is new, and set its first offsets unless ``start`` is ``earliest``.

    Raises:
        ReplayError: the messages topic does not exist, or the group has committed offsets already.
    """
    async with offsets_consumer(settings, client_id="tgpipe-replay", group_id=settings.writer_group) as consumer:
        partitions = consumer.partitions_for_topic(settings.topic_messages)
        if not partitions:
            raise ReplayError(f"topic {settings.topic_messages} does not exist: nothing to replay")
        tps = [TopicPartition(settings.topic_messages, p) for p in sorted(partitions)]
        consumer.assign(tps)
        used = {tp.partition: offset for tp in tps if (offset := await consumer.committed(tp)) is not None}
        if used:
            raise ReplayError(f"consumer group {settings.writer_group!r} already has committed offsets "
                              f"{used} on {settings.topic_messages}: a replay needs a new group")
        if start != "earliest":
            wanted = start if isinstance(start, dict) else {tp.partition: start for tp in tps}
            unknown = set(wanted) - set(partitions)
            if unknown:
                raise ReplayError(f"{settings.topic_messages} has no partition(s) {sorted(unknown)}")
            await consumer.commit({TopicPartition(settings.topic_messages, p): o for p, o in wanted.items()})


async def _delete_topic(settings: Settings, topic: str) -> None:
    async with admin_client(settings, client_id="tgpipe-replay") as admin:
        await admin.delete_topics([topic])


async def replay_topic(settings: Settings, *, start: str | int | Offsets = "earliest",
                       until: Offsets | None = None, idle_s: float = 10.0, writers: int = 1,
                       start_timeout: float = 120.0, stall_timeout: float = 120.0,
                       telegram: TelegramClient | None = None) -> ReplaySummary:
    """Replay the messages topic into ``settings.database_url`` (see the module docstring).

    Args:
        settings: from :func:`replay_settings` (new groups, private committed topic, target database).
        start: ``"earliest"``, one offset for every partition, or ``{partition: offset}``.
        until: ``{partition: offset}`` to stop at, instead of the idle rule.
        idle_s: seconds without any writer batch that mean the topic is drained.
        writers: writer replicas in this process (one consumer group; partitions split among them).
        start_timeout: seconds to wait for the first batch.
        stall_timeout: seconds without media progress before giving up.
        telegram: the media service's Telegram client, for photos of live-collected messages
            (without one they are recorded ``no_telegram_client``, as by ``tgpipe media``).

    Raises:
        ReplayError: see :func:`_start_group`; no batch within ``start_timeout``; or the media
            service stalled.
    """
    started = time.monotonic()
    database_url, _ = settings.require_external()
    await asyncio.to_thread(upgrade, database_url)
    await _start_group(settings, start)
    await ensure_topics(settings)  # the private committed topic
    watch = WriterWatch()
    tracker = ProgressTracker()
    async with running_services(settings, tracker, telegram=telegram, writers=writers,
                                writer_middleware=watch.middleware):
        deadline = time.monotonic() + start_timeout
        while not watch.records:
            if time.monotonic() > deadline:
                raise ReplayError(f"no record received from {settings.topic_messages} "
                                  f"within {start_timeout:.0f}s")
            await asyncio.sleep(0.1)
        while not (watch.reached(until) if until else watch.idle_for() >= idle_s):
            await asyncio.sleep(0.1)
        try:
            await tracker.wait_until(lambda: tracker.committed <= tracker.processed, stall_timeout)
        except TgpipeError as exc:
            raise ReplayError(f"the media service did not catch up: {exc}") from None
    await _delete_topic(settings, settings.topic_committed)
    async with connection(database_url) as conn:
        digest = await table_digest(conn)
    return ReplaySummary(
        group=settings.writer_group, media_group=settings.media_group,
        committed_topic=settings.topic_committed, start=str(start), records=watch.records,
        messages=len(tracker.committed), media=len(tracker.processed),
        batches_per_writer=[watch.batches[i] for i in range(writers)], elapsed_s=time.monotonic() - started,
        digest=digest,
    )
