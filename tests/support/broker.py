"""The tests' Kafka-wire broker: which one runs, per-test topics, a started collector-side broker."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import socket
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from faststream.kafka import KafkaBroker

from tests.support.data import SHARED_DATA
from tgpipe.kafka.broker import delete_topics, ensure_topics, make_broker
from tgpipe.settings import Settings


@functools.cache
def docker_available() -> bool:
    """Whether a Docker engine answers ``/_ping`` at ``DOCKER_HOST`` (default: the local socket).

    A raw request rather than the docker SDK: the SDK leaks a socket (ResourceWarning, an error
    here) when no engine runs. A TLS-protected ``tcp://`` engine counts as absent.
    """
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        if host.startswith("unix://"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            address: Any = host.removeprefix("unix://")
        elif host.startswith("tcp://") and os.environ.get("DOCKER_TLS_VERIFY") in (None, "", "0"):
            parsed = urlsplit(host)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            address = (parsed.hostname, parsed.port or 2375)
        else:
            return False
        with sock:
            sock.settimeout(3)
            sock.connect(address)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return sock.recv(64).split(b" ", 2)[1:2] == [b"200"]
    except OSError:
        return False


def container_module(name: str) -> Any:
    """``testcontainers.community.NAME`` (4.13+) or ``testcontainers.NAME`` (older)."""
    import importlib

    try:
        return importlib.import_module(f"testcontainers.community.{name}")
    except ImportError:
        return importlib.import_module(f"testcontainers.{name}")


@dataclasses.dataclass(frozen=True)
class KafkaEndpoint:
    """The session's broker: its address, whether it is Tansu, and the Settings fields it needs."""

    bootstrap_servers: str
    is_tansu: bool
    options: Mapping[str, object] = dataclasses.field(default_factory=dict)


@contextlib.asynccontextmanager
async def topic_settings(database_url: str, kafka: KafkaEndpoint, home: Path, *,
                         partitions: int = 3) -> AsyncIterator[Settings]:
    """Settings on ``database_url`` with new topics (``partitions`` each, created now, deleted on
    exit) and consumer groups of their own, ``home``, ``media_root=home/"media"``, and
    ``media_export_roots`` ``home`` and the shared exports (``SHARED_DATA``)."""
    tag = uuid.uuid4().hex[:12]
    settings = Settings(
        database_url=database_url,
        kafka_bootstrap_servers=kafka.bootstrap_servers,
        home=home,
        media_root=home / "media",
        media_export_roots=(home, SHARED_DATA),  # the media service reads the test's own exports
        topic_messages=f"t{tag}.messages",
        topic_committed=f"t{tag}.committed",
        topic_dead_letter=f"t{tag}.dead-letter",
        topic_fetch_requests=f"t{tag}.fetch-requests",
        writer_group=f"w-{tag}",
        telegram_fetch_group=f"f-{tag}",
        media_group=f"m-{tag}",
        topic_partitions=partitions,
        **kafka.options,
    )
    await ensure_topics(settings)
    try:
        yield settings
    finally:
        await delete_topics(settings)  # Tansu keeps every topic in memory until it stops


@contextlib.asynccontextmanager
async def collector(settings: Settings) -> AsyncIterator[KafkaBroker]:
    """A started producer-side broker, as the collector uses."""
    broker = make_broker(settings, client_id="tgpipe-collector")
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()




def produce_with_librdkafka(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    """Produce ``(key, value)`` records in order with librdkafka (murmur2 partitioner, as documented),
    waiting for every delivery report; fails on any delivery error."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random",
                         "enable.idempotence": False, "max.in.flight.requests.per.connection": 1})
    failures: list[object] = []
    for key, value in records:
        producer.produce(topic, key=key, value=value, headers={"content-type": b"application/json"},
                         on_delivery=lambda error, _msg: failures.append(error) if error else None)
    assert producer.flush(60) == 0, "librdkafka did not deliver every record within 60 s"
    assert not failures, failures
