"""Kafka plumbing: the FastStream broker factory, event publishing and topic creation. No domain logic here."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiokafka.admin import NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream.kafka import KafkaBroker
from faststream.message import StreamMessage

from schemas.events import AnyEvent, encode_event
from tgpipe.kafka.admin import admin_client, bootstrap_servers
from tgpipe.settings import Settings

log = logging.getLogger(__name__)

#: Largest record tgpipe produces or fetches (producer ``max_request_size``, consumer
#: ``max_partition_fetch_bytes``, ``max.message.bytes`` of the topics it creates).
MAX_RECORD_BYTES = 16 * 1024 * 1024
#: Largest event value a collector publishes: the record limit less room for the key, headers
#: (a dead letter adds about 2 KiB) and batch framing. Larger events are refused and reported.
MAX_EVENT_BYTES = MAX_RECORD_BYTES - 64 * 1024
#: Consumer ``fetch_max_bytes``: what one fetch may bring for all partitions together (aiokafka's
#: default is 50 MiB). It bounds the consumer's prefetch buffer; a record batch larger than it
#: still arrives on its own (the broker always returns the first batch, KIP-74).
FETCH_MAX_BYTES = 4 * 1024 * 1024
#: ``content-type`` header of every record tgpipe publishes (FastStream would send an empty one
#: for a ``bytes`` value).
JSON_CONTENT_TYPE = "application/json"


def make_broker(settings: Settings, *, client_id: str) -> KafkaBroker:
    """Build a FastStream :class:`KafkaBroker` from ``settings``.

    ``acks`` and the idempotent producer follow ``kafka_acks`` / ``kafka_enable_idempotence``
    (both on for Apache Kafka; the local Tansu broker needs idempotence off). FastStream logs
    through the standard logger ``tgpipe.faststream``: lifecycle lines at INFO, one access line
    per batch at DEBUG.

    Raises:
        ConfigurationError: ``kafka_bootstrap_servers`` is unset.
    """
    acks: int | str = "all" if settings.kafka_acks == "all" else int(settings.kafka_acks)
    # The producer's keyword arguments: the same shape as the consumer's in subscribe_batches
    # (`duplicates` pairs them), other options of another call.
    return KafkaBroker(
        bootstrap_servers(settings),
        client_id=client_id,
        acks=acks,
        enable_idempotence=settings.kafka_enable_idempotence,
        linger_ms=settings.kafka_linger_ms,
        max_batch_size=settings.kafka_producer_batch_bytes,
        max_request_size=MAX_RECORD_BYTES,
        logger=logging.getLogger("tgpipe.faststream"),
        log_level=logging.DEBUG,
        graceful_timeout=30.0,
    )


@asynccontextmanager
async def running_broker(settings: Settings, *, client_id: str) -> AsyncIterator[KafkaBroker]:
    """A :func:`make_broker` broker, started (a producer for publishing), stopped on exit."""
    broker = make_broker(settings, client_id=client_id)
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()


async def publish_event(broker: KafkaBroker, topic: str, event: AnyEvent,
                        *, value: bytes | None = None) -> asyncio.Future:
    """Send one tgpipe event to ``topic`` without waiting for the broker; return its ack future.

    The record: value ``encode_event(event)`` (or ``value``, when the caller encoded it already),
    key ``event.key`` (the chat id, so a chat stays on one partition), the event id as
    FastStream's ``correlation_id`` header (FastStream would otherwise draw a random one), and
    ``content-type: application/json``.

    Raises:
        aiokafka.errors.KafkaError: the send could not be queued; the returned future raises it
            when the broker refuses the record after the producer's retries.
    """
    return await broker.publish(encode_event(event) if value is None else value, topic=topic, key=event.key,
                                no_confirm=True, correlation_id=str(event.event_id),
                                headers={"content-type": JSON_CONTENT_TYPE})


async def keep_raw(message: StreamMessage[Any]) -> Any:
    """FastStream decoder that leaves the records' bytes alone.

    tgpipe's handlers decode every value themselves (:func:`schemas.decode_event`, which sends an
    undecodable one to the dead-letter topic). FastStream's default decoder would first
    ``json.loads`` every value of the batch, for nothing, and a ``RecursionError`` on a deeply
    nested value escapes it: the whole batch failed before the handler ran, and the good records
    in it were neither written nor dead-lettered.
    """
    return message.body


def consumer_options(settings: Settings) -> dict[str, object]:
    """Consumer-group options every tgpipe subscriber shares (timeouts from settings, start at earliest;
    ``group_instance_id`` for static membership when ``kafka_group_instance_id`` is set).

    Subscribers also pass ``decoder=keep_raw`` (a FastStream option, not a Kafka one).
    """
    options: dict[str, object] = {
        "auto_offset_reset": "earliest",
        "session_timeout_ms": settings.kafka_session_timeout_ms,
        "heartbeat_interval_ms": settings.kafka_heartbeat_interval_ms,
        "max_partition_fetch_bytes": MAX_RECORD_BYTES,
        "fetch_max_bytes": FETCH_MAX_BYTES,
        # A batch may retry for transient_retry_timeout_s; the member must not be evicted meanwhile.
        "max_poll_interval_ms": int((settings.transient_retry_timeout_s + 60) * 1000),
    }
    if settings.kafka_group_instance_id:  # static membership: only when set (replicas need distinct ids)
        options["group_instance_id"] = settings.kafka_group_instance_id
    return options


def _topics(settings: Settings) -> list[str]:
    return [settings.topic_messages, settings.topic_committed, settings.topic_dead_letter, settings.topic_fetch_requests]


async def ensure_topics(settings: Settings) -> None:
    """Create tgpipe's topics with ``topic_partitions`` partitions when they do not exist yet.

    Existing topics are left as they are (their partition count is not changed). Created topics
    accept records up to :data:`MAX_RECORD_BYTES` (``max.message.bytes``; Apache Kafka's default
    is 1 MB).
    """
    async with admin_client(settings) as admin:
        existing = set(await admin.list_topics())
        new = [NewTopic(name, settings.topic_partitions, settings.topic_replication_factor,
                        topic_configs={"max.message.bytes": str(MAX_RECORD_BYTES)})
               for name in _topics(settings) if name not in existing]
        if new:
            try:
                await admin.create_topics(new)
            except TopicAlreadyExistsError:  # another service created them first
                pass
            log.info("created topics %s", [t.name for t in new])


async def delete_topics(settings: Settings) -> None:
    """Delete tgpipe's topics (messages, committed, dead-letter, fetch requests) and every record in them.

    For tests and benchmarks that give each run its own topics: the embedded Tansu keeps every
    record in memory until its topic is deleted.
    """
    async with admin_client(settings) as admin:
        await admin.delete_topics(_topics(settings))
