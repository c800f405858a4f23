"""The AsyncAPI document of tgpipe, generated from its FastStream apps.

The document is FastStream's AsyncAPI 3.0 specification of one broker on which the writer and the
media service register their subscribers exactly as deployed (:func:`register_writer`,
:func:`register_media`), plus the publishers each service declares here (FastStream only sees
publishers declared with ``broker.publisher``; tgpipe publishes with ``broker.publish``):

* the collector publishes ``message.upserted`` / ``message.deleted`` / ``range.completed`` to the
  messages topic;
* the API publishes ``fetch.requested`` and the Telegram collector answers ``fetch.failed`` on the
  fetch-requests topic (the collector reads it with a plain consumer, not a FastStream subscriber);
* the writer publishes ``message.committed`` to the committed topic;
* the writer and the media service publish dead letters (the failed record unchanged, with
  ``tgpipe-*`` headers) to the dead-letter topic.

The subscribers take the raw batch (they decode the records themselves, see
:func:`tgpipe.kafka.broker.keep_raw`), so FastStream cannot infer their payload; each subscriber's
message gets the payload of the publisher on the same topic.

The committed copy is ``docs/asyncapi/asyncapi.yaml`` (default settings, the compose file's
``kafka:9092``); ``tests/ops/test_asyncapi.py`` fails when it is stale. Refresh it with
``./dev tgpipe docs gen``; view it with ``tgpipe docs serve`` (or FastStream's own
``faststream docs serve docs/asyncapi/asyncapi.yaml``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from pydantic import BaseModel, Field

from schemas import FetchFailed, FetchRequested, MessageCommitted, MessageDeleted, MessageUpserted, RangeCompleted
from tgpipe.kafka.broker import make_broker
from tgpipe.settings import Settings

SPEC_PATH = Path(__file__).resolve().parents[2] / "docs" / "asyncapi" / "asyncapi.yaml"
REFRESH_COMMAND = "./dev tgpipe docs gen"
DESCRIPTION = (
    "tgpipe archives Telegram channels into PostgreSQL through Kafka. The collector publishes one "
    "message.upserted (or message.deleted) event per message, keyed by chat id; the writer (consumer "
    "group tgpipe-writer) writes them in batches, one transaction each, then publishes one "
    "message.committed event per message; the media service (group tgpipe-media) consumes those and "
    "stores the photos. Records that cannot be processed go to the dead-letter topic unchanged. "
    "Delivery contract: docs/contract.md. Keys and partitions (contract K1): "
)
#: How a record's key and partition are chosen, for clients in other languages (contract K1).
KEYS = (
    "every record's key is the chat id in decimal ASCII (b'1878264527'; a message.deleted whose chat is "
    "unknown: b'unresolved'); its partition is murmur2(key bytes) & 0x7fffffff modulo the topic's partition "
    "count, the default partitioner of the Java client and of aiokafka. A librdkafka-based producer "
    "(confluent-kafka, node-rdkafka, rust-rdkafka) must set partitioner=murmur2_random: "
    "librdkafka's default, consistent_random (CRC32), puts chats on other partitions and breaks their order."
)


class DeadLetterRecord(BaseModel):
    """A record the writer or the media service could not process, published unchanged (value and key).

    Headers: ``tgpipe-source-topic``, ``tgpipe-source-partition``, ``tgpipe-source-offset``,
    ``tgpipe-error-class``, ``tgpipe-error-message`` (and ``tgpipe-replayed-from`` on a record that
    ``tgpipe dlq replay`` sent back). The value is whatever the source record held: often a
    ``message.upserted`` or ``message.committed`` event, sometimes bytes that are not JSON at all.
    """

    value: Any = Field(description="The failed record's value, unchanged (any bytes).")


def spec_broker(settings: Settings) -> KafkaBroker:
    """A broker with every tgpipe subscriber and publisher declared (nothing is started)."""
    from services.media.app import register_media
    from services.writer.app import register_writer

    def no_pool() -> Any:
        raise RuntimeError("documentation only")

    broker = make_broker(settings, client_id="tgpipe")
    register_writer(broker, settings, no_pool)
    register_media(broker, settings, no_pool)
    broker.publisher(settings.topic_messages, title="collector:publish",
                     schema=MessageUpserted | MessageDeleted | RangeCompleted,
                     description="The collector (`tgpipe collector export|telegram`): one event per message, "
                                 "key = chat id, so a chat stays ordered on one partition "
                                 "(murmur2 of the key, as the Java client: see the description); after a "
                                 "range's messages, a range.completed marker on the same partition, which the "
                                 "writer records in the coverage ledger with the batch that holds it (contract C1).")
    broker.publisher(settings.topic_fetch_requests, title="api-and-telegram-collector:fetch",
                     schema=FetchRequested | FetchFailed,
                     description="fetch.requested from the API (a date range of a chat the archive does not "
                                 "cover), consumed by the running Telegram collector (consumer group "
                                 "tgpipe-telegram-fetch), which answers a failure with fetch.failed on the same "
                                 "key; success is the range's range.completed marker on the messages topic.")
    broker.publisher(settings.topic_committed, title="writer:publish-committed", schema=MessageCommitted,
                     description="The writer, after the batch's transaction committed and before its offsets: "
                                 "one event per distinct message (at least once), key = chat id.")
    broker.publisher(settings.topic_dead_letter, title="writer-and-media:dead-letter", schema=DeadLetterRecord,
                     description="The writer and the media service: a record that cannot be processed, unchanged, "
                                 "with tgpipe-* headers saying where it came from and why.")
    return broker


def specification(settings: Settings | None = None) -> dict[str, Any]:
    """The AsyncAPI 3.0 document as plain data (see the module docstring)."""
    settings = settings or Settings(kafka_bootstrap_servers="kafka:9092")
    broker = spec_broker(settings)
    doc = AsyncAPI(broker, title="tgpipe", version="0.1.0", description=DESCRIPTION + KEYS).to_specification()
    spec: dict[str, Any] = doc.to_jsonable()
    _subscriber_payloads(spec)
    return _sorted(spec)


def _subscriber_payloads(spec: dict[str, Any]) -> None:
    """Give each subscriber's message the payload of the publisher on the same topic."""
    messages = spec["components"]["messages"]
    published: dict[str, Any] = {}
    for operation in spec["operations"].values():
        channel = spec["channels"][operation["channel"]["$ref"].rsplit("/", 1)[1]]
        if operation["action"] == "send":
            for ref in channel["messages"].values():
                published[channel["address"]] = messages[ref["$ref"].rsplit("/", 1)[1]]["payload"]
    for operation in spec["operations"].values():
        channel = spec["channels"][operation["channel"]["$ref"].rsplit("/", 1)[1]]
        if operation["action"] == "receive" and channel["address"] in published:
            for ref in channel["messages"].values():
                messages[ref["$ref"].rsplit("/", 1)[1]]["payload"] = published[channel["address"]]
    spec["components"]["schemas"].pop("EmptyPayload", None)


def _sorted(spec: dict[str, Any]) -> dict[str, Any]:
    """Channels, operations, messages and schemas by name: FastStream keeps subscribers in a
    ``WeakSet``, whose order changes from run to run, and the committed file must not."""
    for key in ("channels", "operations"):
        spec[key] = dict(sorted(spec[key].items()))
    for key in ("messages", "schemas"):
        spec["components"][key] = dict(sorted(spec["components"][key].items()))
    return spec


def render(spec: dict[str, Any]) -> str:
    """The document as YAML, keys in the order FastStream gives them."""
    header = f"# Generated by `{REFRESH_COMMAND}` from the FastStream apps (tgpipe/ops/asyncapi.py). Do not edit.\n"
    return header + yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=100)


def load_specification(spec: dict[str, Any]) -> Any:
    """``spec`` as FastStream's AsyncAPI 3.0 schema object (what its HTML viewer serves); parsing
    it is also the check ``faststream docs serve FILE`` makes."""
    from faststream._internal._compat import json_dumps, model_parse
    from faststream.specification.asyncapi.v3_0_0.schema import ApplicationSchema

    return model_parse(ApplicationSchema, json_dumps(spec))
