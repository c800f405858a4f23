"""Bad records go to the dead-letter topic with their reason; the good ones around them are written."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

from aiokafka import AIOKafkaConsumer

from schemas import CommittedPayload, MediaRef, MessageCommitted, encode_event
from tests.support.factories import message_event
from tests.support.records import drain
from tgpipe.runtime.inprocess import running_services
from tgpipe.runtime.progress import ProgressTracker
from tgpipe.kafka.dead_letters import read_dead_letters


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


async def test_contract_E6_setup_fault_is_retried_not_dead_lettered(settings, db, caplog):
    # 42P01 undefined table is permanent for PostgreSQL but not the records' fault: dead-lettering
    # would drain a healthy topic. The batch must wait, then land once the table is back.
    async with db.acquire() as conn:
        await conn.execute("ALTER TABLE messages RENAME TO messages_away")
    caplog.set_level(logging.WARNING, "tgpipe.kafka.consume")

    def retries() -> int:
        return sum(r.getMessage().startswith("retrying") and "UndefinedTableError" in r.getMessage()
                   for r in caplog.records)

    tracker = ProgressTracker()
    async with running_services(settings, tracker, media=False) as collector:
        for i in (1, 2):
            await collector.publish(encode_event(message_event(42, i, text=f"m{i}")),
                                    topic=settings.topic_messages, key=b"42")
        async with asyncio.timeout(60):  # several retries with backoff
            while retries() < 3:
                await asyncio.sleep(0.05)
        assert not tracker.committed
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


def _with_media(value: bytes, media: list[MediaRef]) -> bytes:
    data = json.loads(value)
    data["payload"]["media"] = [ref.model_dump(mode="json") for ref in media]
    return json.dumps(data).encode()


async def test_contract_E9_media_kind_twice_and_over_long_text_dead_lettered_the_chat_moves_on(settings, db):
    # No file is read: the photos are "not included" in the export, so every media row is written
    # without touching the disk (the media service's export-root rules are not what this tests).
    photo = MediaRef(kind="photo", export_root="/nowhere", unavailable="not_included")
    twice = _with_media(encode_event(message_event(42, 1)), [photo, photo])
    long_text = encode_event(message_event(42, 2, text="x" * 5_000_000))
    later = message_event(42, 3, media=[photo])
    forged = _with_media(encode_event(MessageCommitted(source="forger", payload=CommittedPayload(
        channel_id=42, message_id=3, causation_id=uuid.uuid4()))), [photo, photo])

    tracker = ProgressTracker()
    async with running_services(settings, tracker) as collector:
        # The forged committed event comes first on the committed topic's partition of chat 42.
        await collector.publish(forged, topic=settings.topic_committed, key=b"42")
        for value in (twice, long_text, encode_event(later)):
            await collector.publish(value, topic=settings.topic_messages, key=b"42")
        await tracker.wait_until(lambda: (42, 3) in tracker.processed, stall_timeout=60)
        dead = await _read_dead_letters(settings, 3)

    reasons = {(dict(r.headers)["tgpipe-source-topic"].decode(), int(dict(r.headers)["tgpipe-source-offset"])):
               (dict(r.headers)["tgpipe-error-class"].decode(), dict(r.headers)["tgpipe-error-message"].decode())
               for r in dead}
    assert set(reasons) == {(settings.topic_messages, 0), (settings.topic_messages, 1),
                            (settings.topic_committed, 0)}
    assert {error_class for error_class, _ in reasons.values()} == {"EventSchemaError"}
    assert "media kind 'photo' listed more than once" in reasons[settings.topic_messages, 0][1]
    assert "text is 5,000,000 characters long, over the limit of 4,096" in reasons[settings.topic_messages, 1][1]
    assert "media kind 'photo' listed more than once" in reasons[settings.topic_committed, 0][1]
    async with db.acquire() as conn:
        assert [tuple(r) for r in await conn.fetch("SELECT message_id, kind, status FROM media")] == [
            (3, "photo", "not_included")]
        assert [r[0] for r in await conn.fetch("SELECT message_id FROM messages")] == [3]


async def test_every_record_tgpipe_publishes_is_application_json(settings, db):
    """Committed events and dead letters carry ``content-type: application/json`` (FastStream sends
    an empty one for bytes), a dead letter whose value is not JSON ``application/octet-stream``; the
    error message header is one line, however many lines the error had (PostgreSQL's DETAIL line
    included)."""
    tracker = ProgressTracker()
    async with db.acquire() as conn:
        await conn.execute("ALTER TABLE messages ADD CONSTRAINT house_rule CHECK (text <> 'refused')")
    async with running_services(settings, tracker, media=False) as collector:
        await collector.publish(b"not json", topic=settings.topic_messages, key=b"42")
        await collector.publish(encode_event(message_event(42, 1, text="refused")), topic=settings.topic_messages,
                                key=b"42")
        await collector.publish(encode_event(message_event(42, 2)), topic=settings.topic_messages, key=b"42")
        await tracker.wait_until(lambda: (42, 2) in tracker.committed, stall_timeout=60)
        dead = await _read_dead_letters(settings, 2)
    committed = await drain(settings, settings.topic_committed)
    assert [dict(r.headers)["content-type"] for r in committed] == [b"application/json"]
    assert sorted(dict(r.headers)["content-type"] for r in dead) == [
        b"application/json", b"application/octet-stream"]
    for record in dead:
        message = dict(record.headers)["tgpipe-error-message"].decode()
        assert "\n" not in message and message == message.strip()
    check = next(dict(r.headers)["tgpipe-error-message"].decode() for r in dead
                 if dict(r.headers)["tgpipe-error-class"] == b"CheckViolationError")
    assert check.startswith('new row for relation "messages" violates check constraint "house_rule" DETAIL: ')
