"""``tgpipe dlq``: see the dead letters and send them back to their topic once the cause is fixed.

A dead letter is the failed record unchanged (value and key) with the headers
:func:`tgpipe.kafka.consume.dead_letter` adds (``tgpipe-source-topic``, ``-source-partition``,
``-source-offset``, ``-error-class``, ``-error-message``).

Reading never joins a consumer group and never commits anything: a throwaway consumer reads the
dead-letter topic from its beginning and stops once no record has arrived for ``idle_s`` seconds.
End offsets are never used (the local broker reports them wrong), so a dead letter published
while a listing runs may or may not be in it.

Replaying publishes each selected dead letter's value, with its original key, to its source
topic, adding the header ``tgpipe-replayed-from`` (``<dead-letter topic>[<partition>]@<offset>``)
and keeping its ``content-type``.
The consumers are idempotent, so replaying a dead letter twice changes nothing more than once;
a record that still fails is dead-lettered again (with that header kept, see
:func:`tgpipe.kafka.consume.dead_letter`).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, aclosing
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas import decode_event
from tgpipe.kafka.admin import offsets_consumer
from tgpipe.kafka.broker import MAX_RECORD_BYTES, make_broker
from tgpipe.errors import EventError, TgpipeError
from tgpipe.settings import Settings

# The headers of a dead letter (written by :func:`tgpipe.kafka.consume.dead_letter`, read here,
# by progress and by status): named once.
SOURCE_TOPIC = "tgpipe-source-topic"
SOURCE_PARTITION = "tgpipe-source-partition"
SOURCE_OFFSET = "tgpipe-source-offset"
ERROR_CLASS = "tgpipe-error-class"
ERROR_MESSAGE = "tgpipe-error-message"
#: Every dead letter carries these, in this order.
DEAD_LETTER_HEADERS = (SOURCE_TOPIC, SOURCE_PARTITION, SOURCE_OFFSET, ERROR_CLASS, ERROR_MESSAGE)
#: Added by ``tgpipe dlq replay`` (``<dead-letter topic>[<partition>]@<offset>``); kept by a dead letter that fails again.
REPLAYED_FROM = "tgpipe-replayed-from"


class DeadLetterNotFound(TgpipeError):
    """No dead letter at the partition and offset asked for (within the idle time)."""


@dataclass(frozen=True)
class DeadLetter:
    """One record of the dead-letter topic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]
    timestamp_ms: int

    def header(self, name: str) -> str | None:
        """The header ``name`` decoded as UTF-8 (``None`` when absent)."""
        raw = self.headers.get(name)
        return None if raw is None else raw.decode("utf-8", "replace")

    @property
    def where(self) -> str:
        """``topic[partition]@offset`` of this dead letter."""
        return f"{self.topic}[{self.partition}]@{self.offset}"

    @property
    def source(self) -> str:
        """``topic[partition]@offset`` of the record that failed."""
        return (f"{self.header(SOURCE_TOPIC)}[{self.header(SOURCE_PARTITION)}]"
                f"@{self.header(SOURCE_OFFSET)}")

    @property
    def record(self) -> str:
        """Which message the value is about (``chat 42 message 7``), as far as it can be read; else ``-``."""
        return describe_value(self.value)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready summary (the value itself is left out; see :func:`render_value`)."""
        return {
            "partition": self.partition, "offset": self.offset,
            "key": None if self.key is None else self.key.decode("utf-8", "replace"),
            "source_topic": self.header(SOURCE_TOPIC),
            "source_partition": _int_or_none(self.header(SOURCE_PARTITION)),
            "source_offset": _int_or_none(self.header(SOURCE_OFFSET)),
            "error_class": self.header(ERROR_CLASS),
            "error_message": self.header(ERROR_MESSAGE),
            "replayed_from": self.header(REPLAYED_FROM),
            "record": self.record,
        }

    def line(self) -> str:
        """One line for ``dlq list``."""
        key = "-" if self.key is None else self.key.decode("utf-8", "replace")
        message = " ".join((self.header(ERROR_MESSAGE) or "").split())
        replayed = f"  (replay of {self.header(REPLAYED_FROM)})" if self.header(REPLAYED_FROM) else ""
        return (f"{self.partition}@{self.offset}  from {self.source}  key={key}  {self.record}  "
                f"{self.header(ERROR_CLASS)}: {message}{replayed}")


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def describe_value(value: bytes) -> str:
    """``chat C message M`` (or ``chat C messages […]``) named by a record value, even by one that
    fails its schema when its JSON still says so; ``-`` when nothing can be read."""
    try:
        payload = decode_event(value).payload.model_dump()
    except EventError:
        try:
            payload = json.loads(value).get("payload")
        except (ValueError, AttributeError, RecursionError):  # RecursionError: nested too deeply
            return "-"
    if not isinstance(payload, dict):
        return "-"
    where = payload.get("message") if isinstance(payload.get("message"), dict) else payload
    chat, message, messages = where.get("channel_id"), where.get("message_id"), where.get("message_ids")
    if message is not None:
        return f"chat {chat} message {message}"
    return f"chat {chat} messages {messages}" if messages is not None else "-"


def record_fields(record: Any) -> dict[str, object]:
    """``extra`` for a log line about one consumer record, readable or not."""
    fields: dict[str, object] = {"topic": record.topic, "partition": record.partition, "offset": record.offset}
    try:
        words = describe_value(record.value or b"").split()  # "chat C message M" or "-"
    except Exception:  # noqa: BLE001 - a log line must never fail the dead-lettering it reports
        words = []
    if len(words) >= 4 and words[0] == "chat":
        fields["channel_id"] = _int(words[1])
        if words[2] == "message":
            fields["telegram_message_id"] = _int(words[3])
    return fields


def _int(text: str) -> object:
    try:
        return int(text)
    except ValueError:
        return text


def render_value(value: bytes) -> str:
    """The value as indented JSON when it is UTF-8 JSON, else the ``repr`` of its bytes."""
    try:
        return json.dumps(json.loads(value), indent=2, ensure_ascii=False)
    except ValueError:
        return repr(value)


def _consumer(settings: Settings) -> AbstractAsyncContextManager[AIOKafkaConsumer]:
    """A consumer outside any group (nothing committed), from the earliest offsets."""
    return offsets_consumer(settings, client_id="tgpipe-dlq", auto_offset_reset="earliest",
                            max_partition_fetch_bytes=MAX_RECORD_BYTES)


def _dead_letter(record) -> DeadLetter:
    return DeadLetter(record.topic, record.partition, record.offset, record.key, record.value or b"",
                      {k: v for k, v in record.headers}, record.timestamp)


async def _polls(settings: Settings) -> AsyncIterator[list[DeadLetter]]:
    """The dead letters of each poll (often none), from the beginning of the topic, endlessly."""
    async with _consumer(settings) as consumer:
        consumer.subscribe([settings.topic_dead_letter])
        while True:
            yield [_dead_letter(r) for records in (await consumer.getmany(timeout_ms=200)).values() for r in records]


async def read_dead_letters(settings: Settings, *, idle_s: float = 2.0) -> list[DeadLetter]:
    """Every dead letter, ordered by partition and offset, read until ``idle_s`` seconds pass
    without a new one (see the module docstring)."""
    settings.require_external()
    letters: list[DeadLetter] = []
    last = time.monotonic()
    async with aclosing(_polls(settings)) as polls:
        async for batch in polls:
            if batch:
                letters += batch
                last = time.monotonic()
            elif time.monotonic() - last >= idle_s:
                break
    return sorted(letters, key=lambda d: (d.partition, d.offset))


async def watch_dead_letters(settings: Settings, on_letter: Callable[[DeadLetter], None]) -> None:
    """Call ``on_letter`` with every dead letter, from the beginning of the topic, until cancelled."""
    async with aclosing(_polls(settings)) as polls:
        async for batch in polls:
            for letter in batch:
                on_letter(letter)


async def read_dead_letter(settings: Settings, partition: int, offset: int, *,
                           idle_s: float = 2.0) -> DeadLetter:
    """The dead letter at ``partition``/``offset``.

    Raises:
        DeadLetterNotFound: none arrived within ``idle_s`` seconds (the offset is past the end,
            or the partition does not exist).
    """
    settings.require_external()
    tp = TopicPartition(settings.topic_dead_letter, partition)
    async with _consumer(settings) as consumer:
        consumer.assign([tp])
        consumer.seek(tp, offset)
        deadline = time.monotonic() + idle_s
        while time.monotonic() < deadline:
            for record in (await consumer.getmany(tp, timeout_ms=200)).get(tp, []):
                if record.offset == offset:
                    return _dead_letter(record)
                if record.offset > offset:  # compacted away or a transaction marker
                    break
    raise DeadLetterNotFound(f"no dead letter at {settings.topic_dead_letter}[{partition}]@{offset}")


def select(letters: Iterable[DeadLetter], *, partition: int | None = None, offsets: Iterable[int] = (),
           error_class: str | None = None) -> list[DeadLetter]:
    """The dead letters of ``partition`` (any when ``None``) at ``offsets`` (any when empty) whose
    error class is ``error_class`` (any when ``None``)."""
    wanted = set(offsets)
    return [d for d in letters
            if (partition is None or d.partition == partition) and (not wanted or d.offset in wanted)
            and (error_class is None or d.header(ERROR_CLASS) == error_class)]


@dataclass(frozen=True)
class Replayed:
    """What :func:`replay_dead_letters` did with one dead letter: ``sent_to`` is
    ``topic[partition]@offset``, or ``None`` with ``skipped`` saying why."""

    letter: DeadLetter
    sent_to: str | None = None
    skipped: str | None = None


async def replay_dead_letters(settings: Settings, letters: Iterable[DeadLetter], *,
                              dry_run: bool = False) -> list[Replayed]:
    """Publish each dead letter's value with its key to its source topic (awaiting the broker's ack),
    with the header ``tgpipe-replayed-from``. A letter without a source topic header is skipped.
    ``dry_run`` sends nothing and reports where each would go."""
    results: list[Replayed] = []
    broker = None if dry_run else make_broker(settings, client_id="tgpipe-dlq-replay")
    if broker is not None:
        await broker.start()
    try:
        for letter in letters:
            topic = letter.header(SOURCE_TOPIC)
            if not topic:
                results.append(Replayed(letter, skipped="no tgpipe-source-topic header"))
            elif broker is None:
                results.append(Replayed(letter, sent_to=f"{topic} (dry run)"))
            else:
                sent = await broker.publish(letter.value, topic=topic, key=letter.key, headers={
                    REPLAYED_FROM: letter.where, "content-type": letter.header("content-type") or ""})
                results.append(Replayed(letter, sent_to=f"{sent.topic}[{sent.partition}]@{sent.offset}"))
    finally:
        if broker is not None:
            await broker.stop()
    return results
