"""``tgpipe status``: what the archive holds and how far the consumers are, for an operator.

* Per chat (PostgreSQL): messages, deleted ones, the newest message's date and when a message
  of it was last archived; its coverage and holes (:mod:`tgpipe.ops.coverage`); media rows by status.
* Consumer lag per group and partition: the group's committed offset against the partition's
  high watermark, read without joining the group (``committed`` and ``end_offsets`` of a
  consumer that never subscribes). Apache Kafka reports true high watermarks; the local Tansu
  broker reports wrong end offsets, so there the lag is wrong (the output says so when the
  broker's end offsets are behind a committed offset, which cannot happen on Kafka).
* Dead letters: counted by error class from :func:`tgpipe.kafka.dead_letters.read_dead_letters` (the topic
  read from its beginning until ``idle_s`` seconds pass without a record).
"""

from __future__ import annotations

from collections import Counter

from aiokafka import TopicPartition
from pydantic import Field, computed_field

from tgpipe.db import connection
from tgpipe.kafka.admin import offsets_consumer
from tgpipe.kafka.dead_letters import ERROR_CLASS, read_dead_letters
from tgpipe.ops.coverage import CoverageResult, coverage_of
from tgpipe.ops.results import IsoDatetime, Result
from tgpipe.settings import Settings

TANSU_NOTE = ("lag = high watermark - committed offset; on the local Tansu broker end offsets are wrong, "
              "so is this lag")


class ChatStatus(Result):
    """One archived chat (a ``channels`` row) and its messages. JSON key of ``chat_id``: ``channel_id``."""

    chat_id: int = Field(serialization_alias="channel_id")
    title: str | None
    messages: int
    deleted: int
    newest_message: IsoDatetime | None
    """The newest message's ``date`` (Telegram / export), ``None`` without messages."""
    last_archived: IsoDatetime | None
    """When the writer last stored a message of the chat (``messages.archived_at``)."""


class PartitionLag(Result):
    """One partition of a consumer group's topic; ``lag`` is ``None`` where the group committed nothing."""

    partition: int
    committed: int | None
    high_watermark: int | None
    lag: int | None


class GroupLag(Result):
    """A consumer group's lag on its topic, per partition and in all."""

    group: str
    topic: str
    partitions: list[PartitionLag]

    @computed_field
    @property
    def lag(self) -> int | None:
        """Sum of the partitions' known lags (``None`` when none is known)."""
        known = [p.lag for p in self.partitions if p.lag is not None]
        return sum(known) if known else None

    @computed_field
    @property
    def end_offsets_suspect(self) -> bool:
        """An end offset is behind a committed offset: the broker's end offsets are wrong (Tansu)."""
        return any(p.lag is not None and p.lag < 0 for p in self.partitions)


class DeadLetterCounts(Result):
    """Dead letters on the dead-letter topic, counted by their ``tgpipe-error-class`` header (``-``: none)."""

    total: int
    by_error_class: dict[str, int]


class DatabaseStatus(Result):
    """What PostgreSQL holds: the chats (``channel_id`` order), their coverage (same order) and media
    rows by ``status``. JSON key of ``chats``: ``channels``."""

    chats: list[ChatStatus] = Field(serialization_alias="channels")
    coverage: list[CoverageResult]
    media: dict[str, int]


class Status(DatabaseStatus):
    """Everything ``tgpipe status`` shows (see the module docstring)."""

    consumer_groups: list[GroupLag]
    lag_note: str = TANSU_NOTE
    dead_letters: DeadLetterCounts


_CHATS = """
SELECT c.channel_id, c.title, count(m.message_id) AS messages,
       count(m.deleted_at) AS deleted, max(m.date) AS newest_message, max(m.archived_at) AS last_archived
FROM channels c LEFT JOIN messages m USING (channel_id)
GROUP BY c.channel_id, c.title ORDER BY c.channel_id
"""


async def database_status(database_url: str) -> DatabaseStatus:
    """The chats of the archive at ``database_url`` and its media rows by status."""
    async with connection(database_url) as conn:
        chats = [ChatStatus(chat_id=r["channel_id"], title=r["title"], messages=r["messages"], deleted=r["deleted"],
                            newest_message=r["newest_message"], last_archived=r["last_archived"])
                 for r in await conn.fetch(_CHATS)]
        coverage = [await coverage_of(conn, c.chat_id) for c in chats]
        media = dict(await conn.fetch("SELECT status, count(*) FROM media GROUP BY status ORDER BY status"))
    return DatabaseStatus(chats=chats, coverage=coverage, media=media)


async def group_lag(settings: Settings, group: str, topic: str) -> GroupLag:
    """Per partition of ``topic``: ``group``'s committed offset, the high watermark and the lag,
    without joining the group."""
    async with offsets_consumer(settings, client_id="tgpipe-status", group_id=group) as consumer:
        partitions = sorted(consumer.partitions_for_topic(topic) or ())
        if not partitions:
            await consumer._client.force_metadata_update()  # noqa: SLF001 - first look at the topic
            partitions = sorted(consumer.partitions_for_topic(topic) or ())
        tps = [TopicPartition(topic, p) for p in partitions]
        ends = await consumer.end_offsets(tps) if tps else {}
        rows = []
        for tp in tps:
            committed = await consumer.committed(tp)
            end = ends.get(tp)
            rows.append(PartitionLag(partition=tp.partition, committed=committed, high_watermark=end,
                                     lag=None if committed is None or end is None else end - committed))
        return GroupLag(group=group, topic=topic, partitions=rows)


async def status(settings: Settings, *, idle_s: float = 2.0) -> Status:
    """Everything ``tgpipe status`` shows (see the module docstring).

    Raises:
        ConfigurationError: the database or the broker is not configured, or not migrated.
        OSError, asyncpg.PostgresError, aiokafka.errors.KafkaError: a server did not answer.
    """
    database_url, _ = settings.require_external()
    database = await database_status(database_url)
    groups = [await group_lag(settings, group, topic)
              for group, topic in ((settings.writer_group, settings.topic_messages),
                                   (settings.media_group, settings.topic_committed))]
    letters = await read_dead_letters(settings, idle_s=idle_s)
    by_class = Counter(letter.header(ERROR_CLASS) or "-" for letter in letters)
    return Status(chats=database.chats, coverage=database.coverage, media=database.media, consumer_groups=groups,
                  dead_letters=DeadLetterCounts(total=len(letters), by_error_class=dict(sorted(by_class.items()))))
