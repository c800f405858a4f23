"""Bad records go to the dead-letter topic with their reason; the good ones around them are written."""

from __future__ import annotations

import asyncio
import json
import uuid

from aiokafka import AIOKafkaConsumer

from schemas import CommittedPayload, MessageCommitted, encode_event
from tests.factories import message_event
from tgpipe.archive import ProgressTracker, running_services


async def _read_dead_letters(settings, count: int) -> list:
    consumer = AIOKafkaConsumer(settings.topic_dead_letter, bootstrap_servers=settings.kafka_bootstrap_servers,
                                auto_offset_reset="earliest", group_id=f"dlq-reader-{uuid.uuid4().hex[:6]}")
    await consumer.start()
    records = []
    try:
        async with asyncio.timeout(60):
            while len(records) < count:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    records.extend(batch)
    finally:
        await consumer.stop()
    return records


async def test_poison_records_are_dead_lettered_and_good_ones_persisted(settings, db):
    good = [message_event(42, i, text=f"good {i}") for i in (1, 2, 3)]
    future_version = json.loads(encode_event(message_event(42, 9)))
    future_version["schema_version"] = 99
    wrong_topic = MessageCommitted(source="test", payload=CommittedPayload(channel_id=42, message_id=8,
                                                                           causation_id=uuid.uuid4()))
    poison = {
        b"\x00\x01 not json": "UndecodableEventError",
        json.dumps(future_version).encode(): "EventSchemaError",
        encode_event(wrong_topic): "EventSchemaError",
    }
    values = [encode_event(good[0]), *list(poison)[:2], encode_event(good[1]), list(poison)[2], encode_event(good[2])]

    tracker = ProgressTracker()
    async with running_services(settings, tracker, media=False) as collector:
        for value in values:  # one key: one partition, in this order
            await collector.publish(value, topic=settings.topic_messages, key=b"42")
        await tracker.wait_until(lambda: len(tracker.committed) == 3, stall_timeout=60)
        dead = await _read_dead_letters(settings, 3)

    async with db.acquire() as conn:
        texts = [r["text"] for r in await conn.fetch("SELECT text FROM messages ORDER BY message_id")]
    assert texts == ["good 1", "good 2", "good 3"]

    assert {r.value: dict(r.headers)["tgpipe-error-class"].decode() for r in dead} == poison
    for record in dead:
        headers = {k: v.decode() for k, v in record.headers}
        assert headers["tgpipe-source-topic"] == settings.topic_messages
        assert int(headers["tgpipe-source-offset"]) == values.index(record.value)
        assert headers["tgpipe-error-message"]
