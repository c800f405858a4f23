"""What a topic holds, read by the tests from its beginning without joining a consumer group."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from tgpipe.settings import Settings

SENTINEL_HEADER = "checker-sentinel"


@contextlib.asynccontextmanager
async def _reader(settings: Settings, topic: str) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer of every partition of ``topic`` from its beginning (its own assignment, no group)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False)
    partitions = [TopicPartition(topic, p) for p in range(settings.topic_partitions)]
    consumer.assign(partitions)
    await consumer.start()
    try:
        await consumer.seek_to_beginning(*partitions)
        yield consumer
    finally:
        await consumer.stop()


async def drain(settings: Settings, topic: str, timeout: float = 30.0) -> list[ConsumerRecord]:
    """Every record of ``topic`` (all partitions, offset order), sentinels left out.

    Appends a sentinel to each partition: only for the final check, when no service will consume
    the topic any more (use :func:`peek` in the middle of a test).
    """
    token = uuid.uuid4().hex.encode()
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        for partition in range(settings.topic_partitions):
            await producer.send_and_wait(topic, b"", partition=partition, headers=[(SENTINEL_HEADER, token)])
    finally:
        await producer.stop()

    records: list[ConsumerRecord] = []
    async with _reader(settings, topic) as consumer, asyncio.timeout(timeout):
        pending = set(consumer.assignment())
        while pending:
            for tp, batch in (await consumer.getmany(*pending, timeout_ms=200)).items():
                for record in batch:
                    if (SENTINEL_HEADER, token) in record.headers:
                        pending.discard(tp)
                        break
                    if not any(name == SENTINEL_HEADER for name, _ in record.headers):
                        records.append(record)
    return records


async def peek(settings: Settings, topic: str, idle_polls: int = 3) -> list[ConsumerRecord]:
    """The records of ``topic`` as far as a reader from the beginning gets before ``idle_polls``
    polls in a row bring nothing. Leaves the topic unchanged; exact only while nobody produces
    to it (e.g. between a writer's death and its replacement)."""
    records: list[ConsumerRecord] = []
    async with _reader(settings, topic) as consumer, asyncio.timeout(30):
        idle = 0
        while idle < idle_polls:
            batches = await consumer.getmany(timeout_ms=300)
            idle = 0 if batches else idle + 1
            records.extend(r for batch in batches.values() for r in batch)
    return records
