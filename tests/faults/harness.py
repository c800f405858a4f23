"""Plumbing of the faults group (services as processes, faults, the TCP proxy: :mod:`tests.support`).

* :func:`committed_offsets` reads a consumer group's committed offsets without joining it.
* :func:`publish` publishes through the real collector code (``seq`` stamped) and tells the
  checker; :func:`run_until` runs the in-process services until given messages are through.
"""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from faststream.kafka import KafkaBroker

from schemas import MessageUpsertedPayload
from tests.support.factories import message_event
from services.collector.publish import publish_payloads
from tests.faults.checker import Checker, Key
from tests.support.broker import collector
from tests.support.waiting import eventually
from tgpipe.runtime.inprocess import running_services
from tgpipe.runtime.progress import ProgressTracker
from tgpipe.settings import Settings


async def committed_offsets(settings: Settings, group: str, topic: str) -> dict[int, int | None]:
    """``{partition: committed offset}`` of ``group`` on ``topic``, read without joining the group."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, group_id=group,
                                enable_auto_commit=False)
    async with asyncio.timeout(30):
        await consumer.start()
        try:
            return {p: await consumer.committed(TopicPartition(topic, p)) for p in range(settings.topic_partitions)}
        finally:
            await consumer.stop()


async def committed_count(settings: Settings, group: str, topic: str) -> int:
    """How many records of ``topic`` ``group`` has committed (the tests' topics start at offset 0)."""
    return sum(offset or 0 for offset in (await committed_offsets(settings, group, topic)).values())


async def publish(settings: Settings, checker: Checker, payloads: list[MessageUpsertedPayload], source: str,
                  broker: KafkaBroker | None = None) -> None:
    """Publish ``payloads`` through the collector (``seq`` stamped), remembered by ``checker``."""
    async with contextlib.AsyncExitStack() as stack:
        broker = broker or await stack.enter_async_context(collector(settings))
        await publish_payloads(broker, settings, payloads, source=source, on_acked=checker.on_published)


def keys_of(payloads: list[MessageUpsertedPayload]) -> set[Key]:
    return {(p.message.channel_id, p.message.message_id) for p in payloads}


_DONE = """
SELECT count(*) FROM messages g JOIN unnest($1::bigint[], $2::bigint[]) AS k (channel_id, message_id)
     USING (channel_id, message_id)
WHERE NOT $3 OR g.media_kind IS NULL
   OR EXISTS (SELECT 1 FROM media m WHERE m.channel_id = g.channel_id AND m.message_id = g.message_id)
"""


async def run_until(settings: Settings, db: asyncpg.Pool, keys: set[Key], *, media: bool = True,
                    timeout: float = 60) -> None:
    """Run the writer (and media service) in this process until every message of ``keys`` is in
    the database (and, with ``media``, has a media row when it has media); then stop them (a stop
    lets the batch in flight finish)."""
    columns = [k[0] for k in keys], [k[1] for k in keys]

    async def done() -> bool:
        async with db.acquire() as conn:
            return await conn.fetchval(_DONE, *columns, media) == len(keys)

    async with asyncio.timeout(timeout + 30), running_services(settings, ProgressTracker(), media=media):
        await eventually(done, timeout, f"{len(keys)} messages through the pipeline")


def text_payloads(count: int, channels: int = 3, start: int = 1) -> list[MessageUpsertedPayload]:
    """Messages ``start..start+count-1`` without media, spread over channels 100, 101…"""
    return [message_event(100 + i % channels, i, text=f"message {i}").payload for i in range(start, start + count)]


async def paced_publish(settings: Settings, checker: Checker, payloads: list[MessageUpsertedPayload],
                        broker: KafkaBroker, *, chunk: int = 10, interval: float = 0.1) -> None:
    """Publish ``payloads`` ``chunk`` at a time, one chunk per ``interval``: a live stream."""
    for i in range(0, len(payloads), chunk):
        await publish(settings, checker, payloads[i:i + chunk], source=f"stream-{i // chunk}", broker=broker)
        await asyncio.sleep(interval)


