"""Bad records go to the dead-letter topic with their reason; the good ones around them are written."""

from __future__ import annotations

import asyncio
import json
import uuid

from aiokafka import AIOKafkaConsumer

from schemas import CommittedPayload, MessageCommitted, encode_event
from tests.factories import message_event
from tgpipe.archive import running_services
from tgpipe.progress import ProgressTracker
from tgpipe.dlq import read_dead_letters


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


async def test_contract_E6_setup_fault_is_retried_not_dead_lettered(settings, db):
    # 42P01 undefined table is permanent for PostgreSQL but not the records' fault: dead-lettering
    # would drain a healthy topic. The batch must wait, then land once the table is back.
    async with db.acquire() as conn:
        await conn.execute("ALTER TABLE messages RENAME TO messages_away")
    tracker = ProgressTracker()
    async with running_services(settings, tracker, media=False) as collector:
        for i in (1, 2):
            await collector.publish(encode_event(message_event(42, i, text=f"m{i}")),
                                    topic=settings.topic_messages, key=b"42")
        await asyncio.sleep(3)  # several retries with backoff
        assert tracker.committed == set()
        async with db.acquire() as conn:
            await conn.execute("ALTER TABLE messages_away RENAME TO messages")
        await tracker.wait_until(lambda: len(tracker.committed) == 2, stall_timeout=60)
    assert await read_dead_letters(settings, idle_s=1.0) == []
    async with db.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM messages") == 2


async def test_contract_E6_failure_after_commit_redelivers_and_dead_letters_nothing(settings, db):
    class FailsOnce(ProgressTracker):
        calls = 0

        def on_committed(self, events):
            self.calls += 1
            if self.calls <= 2:  # once for the batch, once more: a split would dead-letter a committed record
                raise RuntimeError("hook failed after the commit")
            super().on_committed(events)

    tracker = FailsOnce()
    async with running_services(settings, tracker, media=False) as collector:
        for i in (1, 2):
            await collector.publish(encode_event(message_event(42, i)), topic=settings.topic_messages, key=b"42")
        await tracker.wait_until(lambda: len(tracker.committed) == 2, stall_timeout=60)
    assert tracker.calls >= 3
    assert await read_dead_letters(settings, idle_s=1.0) == []
