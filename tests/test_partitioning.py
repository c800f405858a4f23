"""Clients other than aiokafka on tgpipe's topics: the key -> partition mapping of docs/contract.md
(K1) as librdkafka applies it, and a librdkafka consumer reading tgpipe's events.

librdkafka (through ``confluent-kafka``, whose wheel ships it) defaults to ``consistent_random``
(CRC32); configured with ``partitioner: murmur2_random`` as documented it must put every chat on
the partition tgpipe's collector uses. The consumer assigns partitions itself (no group join) and
reads from the beginning, never from end offsets.
"""

from __future__ import annotations

import asyncio
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from schemas import MessageUpserted, decode_event
from tests.support.factories import message_event
from tgpipe.kafka.broker import make_broker, publish_event

# Chat ids of every shape tgpipe keys by: small, 32-bit, the -100… form of Telegram channel ids in
# Bot API style, and ids past 2**31 (murmur2's sign handling matters there).
CHAT_IDS = [1, 7, 42, 77, 1878264527, 2_147_483_648, 9_999_999_999, 1_000_000_000_000, -1001878264527,
            *range(100, 140)]


async def _collector_partitions(settings, events: list[MessageUpserted]) -> dict[bytes, int]:
    """Publish ``events`` as the collector does; ``{key: partition}`` from the broker's acks."""
    broker = make_broker(settings, client_id="tgpipe-collector")
    await broker.start()
    try:
        futures = [await publish_event(broker, settings.topic_messages, event) for event in events]
        acks = await asyncio.gather(*futures)
    finally:
        await broker.stop()
    return {event.key: ack.partition for event, ack in zip(events, acks, strict=True)}


def _librdkafka_partitions(settings, keys: list[bytes], topic: str) -> dict[bytes, int]:
    """Produce one record per key with librdkafka configured as docs/contract.md K1 says;
    ``{key: partition}`` from its delivery reports."""
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers, "partitioner": "murmur2_random",
                         "enable.idempotence": False})
    delivered: dict[bytes, int] = {}

    def report(error, message) -> None:
        assert error is None, error
        delivered[message.key()] = message.partition()

    for key in keys:
        producer.produce(topic, key=key, value=b"{}", on_delivery=report)
    assert producer.flush(30) == 0, "librdkafka did not deliver every record within 30 s"
    return delivered


def _librdkafka_read(settings, topic: str, count: int) -> list:
    """Read ``count`` records of ``topic`` with a librdkafka consumer from the beginning of every
    partition (assigned, no group join); fails after 30 s."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": f"{topic}-reader",
                         "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)
                         for partition in range(settings.topic_partitions)])
        records, deadline = [], time.monotonic() + 30
        while len(records) < count:
            assert time.monotonic() < deadline, f"librdkafka read {len(records)} of {count} records in 30 s"
            message = consumer.poll(0.5)
            if message is None or (message.error() and message.error().code() == KafkaError._PARTITION_EOF):
                continue
            assert message.error() is None, message.error()
            records.append(message)
        return records
    finally:
        consumer.close()


async def test_contract_K1_librdkafka_murmur2_puts_each_chat_on_the_collectors_partition(settings):
    events = [message_event(chat_id, 1) for chat_id in CHAT_IDS]
    ours = await _collector_partitions(settings, events)
    assert len(set(ours.values())) == settings.topic_partitions  # the chats are spread: the check means something
    # Another topic of the same partition count: the librdkafka records must not mix with tgpipe's.
    theirs = await asyncio.to_thread(_librdkafka_partitions, settings, list(ours), settings.topic_committed)
    assert theirs == ours


async def test_contract_K1_librdkafka_consumer_reads_tgpipes_events(settings):
    events = [message_event(chat_id, 5, text=f"hello {chat_id}") for chat_id in CHAT_IDS[:10]]
    partitions = await _collector_partitions(settings, events)
    records = await asyncio.to_thread(_librdkafka_read, settings, settings.topic_messages, len(events))
    decoded = {}
    for record in records:
        event = decode_event(record.value())
        assert isinstance(event, MessageUpserted)
        assert record.key() == event.key and record.partition() == partitions[event.key]
        headers = dict(record.headers() or [])
        assert headers["correlation_id"].decode() == str(event.event_id)
        decoded[event.payload.message.channel_id] = event.payload.message.text
    assert decoded == {chat_id: f"hello {chat_id}" for chat_id in CHAT_IDS[:10]}
