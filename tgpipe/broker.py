"""Kafka plumbing: the FastStream broker factory and topic creation. No domain logic here."""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream.kafka import KafkaBroker

from tgpipe.settings import Settings

log = logging.getLogger(__name__)


def _bootstrap(settings: Settings) -> str:
    if not settings.kafka_bootstrap_servers:
        from tgpipe.errors import ConfigurationError

        raise ConfigurationError("TGPIPE_KAFKA_BOOTSTRAP_SERVERS is not set")
    return settings.kafka_bootstrap_servers


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
    return KafkaBroker(
        _bootstrap(settings),
        client_id=client_id,
        acks=acks,
        enable_idempotence=settings.kafka_enable_idempotence,
        linger_ms=5,
        max_request_size=16 * 1024 * 1024,
        logger=logging.getLogger("tgpipe.faststream"),
        log_level=logging.DEBUG,
        graceful_timeout=30.0,
    )


def consumer_options(settings: Settings) -> dict[str, object]:
    """Consumer-group options every tgpipe subscriber shares (timeouts from settings, start at earliest)."""
    return {
        "auto_offset_reset": "earliest",
        "session_timeout_ms": settings.kafka_session_timeout_ms,
        "heartbeat_interval_ms": settings.kafka_heartbeat_interval_ms,
        "max_partition_fetch_bytes": 16 * 1024 * 1024,
    }


async def ensure_topics(settings: Settings) -> None:
    """Create tgpipe's topics with ``topic_partitions`` partitions when they do not exist yet.

    Existing topics are left as they are (their partition count is not changed).
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=_bootstrap(settings), client_id="tgpipe-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [settings.topic_messages, settings.topic_committed, settings.topic_dead_letter]
        new = [NewTopic(name, settings.topic_partitions, settings.topic_replication_factor)
               for name in wanted if name not in existing]
        if new:
            try:
                await admin.create_topics(new)
            except TopicAlreadyExistsError:  # another service created them first
                pass
            log.info("created topics %s", [t.name for t in new])
    finally:
        await admin.close()
