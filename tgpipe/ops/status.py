"""``tgpipe status``: what the archive holds and how far the consumers are, for an operator.

* Per channel (PostgreSQL): messages, deleted ones, the newest message's date and when a message
  of it was last archived; media rows by status.
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
from typing import Any

from aiokafka import TopicPartition

from tgpipe.db import connection
from tgpipe.kafka.admin import offsets_consumer
from tgpipe.kafka.dead_letters import ERROR_CLASS, read_dead_letters
from tgpipe.settings import Settings

TANSU_NOTE = ("lag = high watermark - committed offset; on the local Tansu broker end offsets are wrong, "
              "so is this lag")

_CHANNELS = """
SELECT c.channel_id, c.title, count(m.message_id) AS messages,
       count(m.deleted_at) AS deleted, max(m.date) AS newest_message, max(m.archived_at) AS last_archived
FROM channels c LEFT JOIN messages m USING (channel_id)
GROUP BY c.channel_id, c.title ORDER BY c.channel_id
"""


async def database_status(database_url: str) -> dict[str, Any]:
    """``{"channels": [...], "media": {status: count}}``."""
    async with connection(database_url) as conn:
        channels = [{**dict(r), "newest_message": _iso(r["newest_message"]),
                     "last_archived": _iso(r["last_archived"])} for r in await conn.fetch(_CHANNELS)]
        media = dict(await conn.fetch("SELECT status, count(*) FROM media GROUP BY status ORDER BY status"))
    return {"channels": channels, "media": media}


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


async def group_lag(settings: Settings, group: str, topic: str) -> list[dict[str, Any]]:
    """Per partition of ``topic``: ``group``'s committed offset, the high watermark and the lag
    (``None`` where the group committed nothing), without joining the group."""
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
            rows.append({"partition": tp.partition, "committed": committed, "high_watermark": end,
                         "lag": None if committed is None or end is None else end - committed})
        return rows


async def status(settings: Settings, *, idle_s: float = 2.0) -> dict[str, Any]:
    """Everything ``tgpipe status`` shows, as plain data (see the module docstring)."""
    database_url, _ = settings.require_external()
    report = await database_status(database_url)
    groups = []
    for group, topic in ((settings.writer_group, settings.topic_messages),
                         (settings.media_group, settings.topic_committed)):
        partitions = await group_lag(settings, group, topic)
        known = [p["lag"] for p in partitions if p["lag"] is not None]
        groups.append({"group": group, "topic": topic, "partitions": partitions,
                       "lag": sum(known) if known else None,
                       "end_offsets_suspect": any(lag < 0 for lag in known)})
    letters = await read_dead_letters(settings, idle_s=idle_s)
    by_class = Counter(letter.header(ERROR_CLASS) or "-" for letter in letters)
    return {**report, "consumer_groups": groups, "lag_note": TANSU_NOTE,
            "dead_letters": {"total": len(letters), "by_error_class": dict(sorted(by_class.items()))}}
