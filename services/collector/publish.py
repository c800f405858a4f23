"""Collector transport: publish ``message.upserted`` events to the messages topic.

Events are keyed by channel id (one channel stays ordered on one partition) and sent without
a round trip each: up to ``publish_chunk`` sends are in flight before their acks are awaited.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from faststream.kafka import KafkaBroker

from schemas import MessageUpserted, MessageUpsertedPayload, encode_event
from tgpipe.settings import Settings


async def publish_payloads(
    broker: KafkaBroker,
    settings: Settings,
    payloads: Iterable[MessageUpsertedPayload],
    *,
    source: str,
    on_acked: Callable[[list[MessageUpserted]], None] | None = None,
) -> int:
    """Publish each payload as a ``message.upserted`` event and return how many were acknowledged.

    Args:
        source: the envelope's ``source`` (e.g. ``export:/path`` or ``telegram:@name``).
        on_acked: called with each chunk of events once the broker acknowledged all of them.

    Raises:
        aiokafka.errors.KafkaError: a send failed after the producer's own retries.
    """
    sent = 0
    chunk: list[MessageUpserted] = []
    futures: list[asyncio.Future] = []

    async def flush() -> None:
        await asyncio.gather(*futures)
        if on_acked:
            on_acked(list(chunk))
        futures.clear()
        chunk.clear()

    for seq, payload in enumerate(payloads):
        event = MessageUpserted(source=source, seq=seq, payload=payload)
        futures.append(await broker.publish(encode_event(event), topic=settings.topic_messages,
                                            key=event.key, no_confirm=True))
        chunk.append(event)
        sent += 1
        if len(chunk) >= settings.publish_chunk:
            await flush()
    await flush()
    return sent
