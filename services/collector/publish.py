"""Collector transport: publish ``message.upserted`` events, then an export's ``range.completed``
markers (:mod:`services.collector.ranges`), to the messages topic.

Events are keyed by chat id (one chat stays ordered on one partition) and sent without
a round trip each: up to ``publish_chunk`` sends are in flight before their acks are awaited.
The producer packs them into record batches (``kafka_producer_batch_bytes``,
``kafka_linger_ms``). A record's correlation id (FastStream's ``correlation_id`` header) is its
event id.
An event larger than :data:`tgpipe.kafka.broker.MAX_EVENT_BYTES` is not sent (no broker would take
it), nor one whose text is longer than ``max_text_chars`` (the consumers would dead-letter it):
it is reported and the others go on.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping

from faststream.kafka import KafkaBroker

from schemas import (
    CoverageSource,
    MessageUpserted,
    MessageUpsertedPayload,
    RangeCompleted,
    encode_event,
    text_length_problem,
)
from services.collector.ranges import RangeTracker
from tgpipe.kafka.broker import MAX_EVENT_BYTES, publish_event
from tgpipe.settings import Settings

log = logging.getLogger(__name__)


async def publish_payloads(
    broker: KafkaBroker,
    settings: Settings,
    payloads: Iterable[MessageUpsertedPayload],
    *,
    source: str,
    on_acked: Callable[[list[MessageUpserted]], None] | None = None,
    on_refused: Callable[[MessageUpserted, str], None] | None = None,
    ranges: RangeTracker | None = None,
    skip: Mapping[int, int] | None = None,
) -> int:
    """Publish each payload as a ``message.upserted`` event and return how many were acknowledged.

    Args:
        source: the envelope's ``source`` (e.g. ``export:/path`` or ``telegram:@name``).
        on_acked: called with each chunk of events once the broker acknowledged all of them.
        on_refused: called with each event not published (too large for a record, or a text over
            ``settings.max_text_chars``) and the reason (it is also logged as a warning); ``seq``
            numbers only the events sent, without gaps.
        ranges: told of every message sent and refused (for the range-complete markers).
        skip: ``{chat id: n}``: the first ``n`` payloads of the chat (in the order given) are
            archived already (a resumed ``tgpipe archive``): not published, not reported, only
            told to ``ranges`` as if they were (so its markers still cover the whole chat).

    Raises:
        aiokafka.errors.KafkaError: a send failed after the producer's own retries.
    """
    sent = 0
    chunk: list[MessageUpserted] = []
    futures: list[asyncio.Future] = []
    seen: Counter[int] = Counter()

    async def flush() -> None:
        await asyncio.gather(*futures)
        if on_acked:
            on_acked(list(chunk))
        futures.clear()
        chunk.clear()

    for payload in payloads:
        event = MessageUpserted(source=source, seq=sent, payload=payload)
        value, refused = _encoded(event, settings)
        chat_id = payload.channel.channel_id
        seen[chat_id] += 1
        if skip and seen[chat_id] <= skip.get(chat_id, 0):
            if ranges and refused:
                ranges.refused(payload.message)
            elif ranges:
                ranges.sent(payload.channel, payload.message)
            continue
        if refused:
            log.warning("%s", refused)
            if on_refused:
                on_refused(event, refused)
            if ranges:
                ranges.refused(payload.message)
            continue
        futures.append(await publish_event(broker, settings.topic_messages, event, value=value))
        chunk.append(event)
        if ranges:
            ranges.sent(payload.channel, payload.message)
        sent += 1
        if len(chunk) >= settings.publish_chunk:
            await flush()
    await flush()
    return sent


# The same parameters as publish_payloads, which it calls, plus on_marked (`duplicates` pairs the two
# signatures): an export is published like any payloads, then its chats are marked complete.
async def publish_export(
    broker: KafkaBroker,
    settings: Settings,
    payloads: Iterable[MessageUpsertedPayload],
    *,
    source: str,
    on_acked: Callable[[list[MessageUpserted]], None] | None = None,
    on_refused: Callable[[MessageUpserted, str], None] | None = None,
    on_marked: Callable[[list[RangeCompleted]], None] | None = None,
    skip: Mapping[int, int] | None = None,
) -> tuple[int, list[RangeCompleted]]:
    """Publish an export's messages (:func:`publish_payloads`), then, once the broker acknowledged
    all of them, one ``range.completed`` marker (source ``export``) per stretch of each chat
    published whole (:class:`~services.collector.ranges.RangeTracker`). Returns the messages
    acknowledged and the markers, which ``on_marked`` is given once acknowledged.

    Raises:
        aiokafka.errors.KafkaError: a send failed after the producer's own retries.
    """
    ranges = RangeTracker()
    sent = await publish_payloads(broker, settings, payloads, source=source, on_acked=on_acked,
                                  on_refused=on_refused, ranges=ranges, skip=skip)
    markers = ranges.markers(source, CoverageSource.EXPORT)
    await asyncio.gather(*[await publish_event(broker, settings.topic_messages, m) for m in markers])
    if on_marked:
        on_marked(markers)
    return sent, markers


def _encoded(event: MessageUpserted, settings: Settings) -> tuple[bytes, str]:
    """``(record value, "")``, or ``(b"", why it is not published)``: a text over
    ``settings.max_text_chars``, an event over :data:`~tgpipe.kafka.broker.MAX_EVENT_BYTES`."""
    message = event.payload.message
    where = f"message {message.message_id} in chat {message.channel_id}"
    if problem := text_length_problem(message.text, settings.max_text_chars):
        return b"", f"{where}: its {problem} (TGPIPE_MAX_TEXT_CHARS); not published"
    value = encode_event(event)
    if len(value) > MAX_EVENT_BYTES:
        return b"", (f"{where}: its event is {len(value):,} bytes, over the {MAX_EVENT_BYTES:,}-byte limit of a "
                     "record; not published")
    return value, ""
