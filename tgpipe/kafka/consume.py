"""The batch-consumption loop shared by the writer and the media service (transport only).

For one polled batch of records it:

1. decodes every record; one that cannot be decoded, or is not the event type the topic
   carries, goes to the dead-letter topic with its reason (the partition keeps moving);
2. hands the decoded events to the service's ``process`` coroutine, retrying with capped
   exponential backoff every error that is not the record's fault (transient errors and faults
   of the service's own setup, :func:`tgpipe.errors.is_record_error`);
3. when ``process`` fails with a record error on a batch of several events, splits it and
   processes each event alone, so only the bad one is dead-lettered;
4. commits the consumer offsets only after all of that succeeded (``AckPolicy.MANUAL``).

Only a record error (:func:`tgpipe.errors.is_record_error`: an allow-list) raised by a record
processed alone dead-letters it. Any other error, a bug in our code included, is retried; if
retries run out, the batch is negatively acknowledged (the consumer seeks back to its first
offsets) and nothing is committed, so it is redelivered; meanwhile :data:`tgpipe.stall.STALLS`
sees the partition's records held without a commit, and the service turns unready once that
lasts ``TGPIPE_STALL_TIMEOUT_S``.

A :class:`BatchGate` (the subscriber's rebalance listener) holds a rebalance of the group until
the batch in flight has committed its offsets, so a replica joining or leaving makes no other
member process that batch again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import TypeVar

import stamina
from aiokafka import ConsumerRebalanceListener, ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage

from schemas import decode_event
from tgpipe.kafka.broker import JSON_CONTENT_TYPE, consumer_options, keep_raw
from tgpipe.kafka.dead_letters import DEAD_LETTER_HEADERS, REPLAYED_FROM, record_fields
from tgpipe.errors import EventError, EventSchemaError, UndecodableEventError, is_record_error, is_transient
from tgpipe.logs import event_fields
from tgpipe.metrics import BATCH_RECORDS, DEAD_LETTERS, PROGRESS
from tgpipe.settings import Settings
from tgpipe.stall import STALLS

log = logging.getLogger(__name__)
E = TypeVar("E")

#: Longest a rebalance waits for the batch in flight (a batch stuck in transient retries must not
#: hold the whole group; past this, its partitions may be processed again by their new owner).
REBALANCE_WAIT_S = 30.0
#: Longest ``tgpipe-error-message`` header, in characters (one line: whitespace runs become a space).
ERROR_MESSAGE_CHARS = 1000


class BatchGate(ConsumerRebalanceListener):
    """Rebalance listener that lets the batch in flight finish before this member gives up its partitions.

    Without it, a rebalance that completes while a batch is processed (a replica joined) leaves the
    batch's offset commit to the new assignment: the partitions handed over are not committed and
    their new owner processes the batch again. aiokafka awaits ``on_partitions_revoked`` before it
    rejoins the group, keeps heartbeating meanwhile, and the commit still carries the current
    generation, so waiting there lets the batch commit first.
    """

    def __init__(self, group: str = "", wait_s: float = REBALANCE_WAIT_S) -> None:
        self.group, self.wait_s = group, wait_s
        self._idle = asyncio.Event()
        self._idle.set()

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Mark a batch in flight for the duration of the block."""
        self._idle.clear()
        try:
            yield
        finally:
            self._idle.set()

    async def on_partitions_revoked(self, revoked) -> None:
        try:
            await self._finish_batch(revoked)
        finally:
            STALLS.revoked(self.group, revoked)  # their records in hand are the new owner's now

    async def _finish_batch(self, revoked) -> None:
        if self._idle.is_set():
            return
        log.info("rebalance: finishing the batch in flight before giving up %d partition(s)", len(revoked))
        try:
            await asyncio.wait_for(self._idle.wait(), self.wait_s)
        except TimeoutError:
            log.warning("rebalance: the batch in flight did not finish within %.0f s; its records may be "
                        "processed again by the partitions' new owner", self.wait_s)

    async def on_partitions_assigned(self, assigned) -> None:
        return None


async def dead_letter(broker: KafkaBroker, settings: Settings, record: ConsumerRecord, error: BaseException) -> None:
    """Publish ``record`` unchanged (value and key) to the dead-letter topic and await the broker's ack.

    Headers (:data:`~tgpipe.kafka.dead_letters.DEAD_LETTER_HEADERS`) carry the source topic, partition,
    offset, the error's class name and its message (one line of at most :data:`ERROR_MESSAGE_CHARS`
    characters); a record that ``tgpipe dlq replay`` sent back keeps its ``tgpipe-replayed-from``
    header, so a dead letter that failed again says so. ``content-type`` is ``application/json``,
    or ``application/octet-stream`` for a value that is not UTF-8 JSON.
    """
    message = one_line(str(error), ERROR_MESSAGE_CHARS)
    headers = dict(zip(
        DEAD_LETTER_HEADERS,
        (record.topic, str(record.partition), str(record.offset), type(error).__name__, message),
        strict=True,
    ))
    headers.update((k, v.decode("utf-8", "replace")) for k, v in record.headers or () if k == REPLAYED_FROM)
    headers["content-type"] = ("application/octet-stream" if isinstance(error, UndecodableEventError)
                               else JSON_CONTENT_TYPE)
    log.warning("dead-lettered %s[%s]@%s: %s: %s", record.topic, record.partition, record.offset,
                type(error).__name__, message, extra={**record_fields(record), "error_class": type(error).__name__})
    await broker.publish(record.value or b"", topic=settings.topic_dead_letter, key=record.key, headers=headers)
    DEAD_LETTERS.labels(record.topic, type(error).__name__).inc()


def one_line(text: str, limit: int) -> str:
    """``text`` on one line (every run of whitespace, newlines included, becomes one space), cut to
    ``limit`` characters with ``…`` at the end when longer."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def _decode(records: Sequence[ConsumerRecord], expected: type[E] | tuple[type, ...], max_text_chars: int
            ) -> tuple[list[tuple[ConsumerRecord, E]], list[tuple[ConsumerRecord, EventError]]]:
    good, bad = [], []
    for record in records:
        try:
            event = decode_event(record.value or b"", max_text_chars=max_text_chars)
            if not isinstance(event, expected):
                raise EventSchemaError(f"event type {event.type!r} does not belong on topic {record.topic}")
            good.append((record, event))
        except EventError as exc:
            bad.append((record, exc))
    return good, bad


async def consume_batch(
    msg: KafkaMessage,
    broker: KafkaBroker,
    settings: Settings,
    expected: type[E] | tuple[type, ...],
    process: Callable[[list[E]], Awaitable[None]],
    gate: BatchGate | None = None,
) -> None:
    """Run one batch through decode → ``process`` → offset commit (see the module docstring).

    Args:
        msg: FastStream's batch message; ``msg.raw_message`` is the tuple of aiokafka records.
        expected: the event class the topic carries (``MessageCommitted``), or a tuple of them
            (the messages topic carries ``MessageUpserted`` and ``MessageDeleted``).
        process: the service's work for a list of events; must be idempotent, because a
            retried or redelivered batch runs it again.
        gate: the subscriber's rebalance listener, told while the batch is in flight.

    Raises:
        Exception: the last transient error once retries are exhausted (after seeking back).
    """
    records = msg.raw_message if isinstance(msg.raw_message, tuple) else (msg.raw_message,)
    topic = records[0].topic if records else ""
    partitions = {(gate.group if gate else "", r.topic, r.partition) for r in records}
    STALLS.received(partitions)
    with gate.batch() if gate else contextlib.nullcontext(), PROGRESS.batch(topic):
        try:  # nothing may raise outside this: the next batch's ack would commit past this one
            good, bad = _decode(records, expected, settings.max_text_chars)
            BATCH_RECORDS.labels(topic).observe(len(records))
            for record, error in bad:
                await _retrying(settings, dead_letter, broker, settings, record, error)
            if good:
                await _process_or_split(broker, settings, good, process)
        except Exception:
            await msg.nack()
            raise
        await msg.ack()
    STALLS.committed(partitions)
    PROGRESS.processed(topic, {event.key.decode() for _, event in good})
    if log.isEnabledFor(logging.DEBUG):
        for _, event in good:
            log.debug("processed %s", event.type, extra={**event_fields(event), "topic": topic})


async def _process_or_split(broker, settings, good, process) -> None:
    try:
        await _retrying(settings, process, [event for _, event in good])
    except Exception as exc:
        if not is_record_error(exc):
            raise
        if len(good) == 1:
            await _retrying(settings, dead_letter, broker, settings, good[0][0], exc)
            return
        log.warning("batch of %d failed permanently (%s: %s); processing one by one",
                    len(good), type(exc).__name__, exc)
        for pair in good:
            await _process_or_split(broker, settings, [pair], process)


async def _retrying(settings: Settings, fn, *args) -> None:
    last: list[BaseException] = []

    def retryable(exc: BaseException) -> bool:
        last[:] = [exc]
        return not is_record_error(exc)

    async for attempt in stamina.retry_context(
        on=retryable,
        attempts=None,
        timeout=settings.transient_retry_timeout_s,
        wait_initial=0.1,
        wait_max=5.0,
    ):
        with attempt:
            if attempt.num > 1:
                kind = ("a transient error" if is_transient(last[0])
                        else "not the record's fault: a fault of the service's setup or a bug")
                log.warning("retrying %s (attempt %d) after %s: %s (%s)", getattr(fn, "__name__", fn), attempt.num,
                            type(last[0]).__name__, one_line(str(last[0]), ERROR_MESSAGE_CHARS), kind)
            await fn(*args)


def subscribe_batches(
    broker: KafkaBroker,
    settings: Settings,
    *,
    topic: str,
    group: str,
    expected: type | tuple[type, ...],
    process: Callable[[list], Awaitable[None]],
    name: str,
) -> None:
    """Subscribe ``process`` to ``topic`` in consumer group ``group`` through :func:`consume_batch`.

    Batches of at most ``writer_batch_max_records`` records, manual offset commits, raw bytes
    (``keep_raw``), and a :class:`BatchGate` holding rebalances while a batch is in flight.
    ``name`` names the handler (FastStream's logs and the AsyncAPI document use it).
    """
    gate = BatchGate(group)  # a rebalance waits for the batch in flight

    async def handler(msg: KafkaMessage) -> None:
        await consume_batch(msg, broker, settings, expected, process, gate=gate)

    handler.__name__ = handler.__qualname__ = name
    # The consumer's keyword arguments: the same shape as the producer's in make_broker (`duplicates`
    # pairs them), other options of another call.
    broker.subscriber(
        topic,
        group_id=group,
        batch=True,
        max_records=settings.writer_batch_max_records,
        batch_timeout_ms=settings.batch_timeout_ms,
        ack_policy=AckPolicy.MANUAL,
        decoder=keep_raw,
        listener=gate,
        **consumer_options(settings),
    )(handler)
