"""The running Telegram collector serves fetch requests (issue 12).

The API publishes ``fetch.requested`` (chat, dates ``start..end``, request id) on the fetch-requests
topic (``TGPIPE_TOPIC_FETCH_REQUESTS``, keyed by chat). While following, the collector consumes it in
its own consumer group (``TGPIPE_TELEGRAM_FETCH_GROUP``, from the earliest offset) and, for a chat it
serves, re-fetches the range (``TelegramCollector.refetch``: the messages, then a
``range.completed`` marker on the messages topic). On any failure it publishes ``fetch.failed`` with
the reason on the fetch-requests topic, same key, so the answer follows its request on the partition
the requester reads; no marker is published then, so nothing of the range counts as covered
(messages published before a failure are real messages and stay). A chat it does not serve (not
listed, or stopped) gets ``fetch.failed`` too. One collector serves the group: run one Telegram
collector per account and list its chats.

A record that is not a tgpipe event goes to the dead-letter topic; ``fetch.failed`` records (the
answers) are skipped. Requests are served one at a time, in the order of their partition. Offsets
are committed when a batch of requests arrives, before serving it (a fetch may take longer than the
group's poll interval): a request in hand when the collector stops is not served again, and its
requester fails with the timeout (``TGPIPE_API_FETCH_TIMEOUT_S``) and may ask again.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Protocol

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker
from telethon.errors import RPCError

from schemas import FetchFailed, FetchFailedPayload, FetchRequested, decode_event
from schemas.errors import EventError
from tgpipe.errors import TgpipeError
from tgpipe.kafka.admin import offsets_consumer
from tgpipe.kafka.broker import consumer_options, publish_event
from tgpipe.kafka.consume import dead_letter
from tgpipe.telegram.client import ChannelPeer
from tgpipe.settings import Settings
from tgpipe.telegram.flood import FloodWaitTooLong

log = logging.getLogger(__name__)

#: What fails one request (answered ``fetch.failed``), not the run: Telegram refused or flooded,
#: the connection broke mid-read (``OSError``), an empty range, a message refused.
FETCH_FAILURES = (FloodWaitTooLong, RPCError, ValueError, OSError, TgpipeError)
_POLL_MS = 500  # how long one poll waits for requests; the stop event is checked in between



class RangeCollector(Protocol):
    """What serving needs of :class:`~services.collector.telegram.collector.TelegramCollector`."""

    settings: Settings
    broker: KafkaBroker

    @property
    def source(self) -> str:
        """The envelope ``source`` of what the collector publishes."""

    async def refetch(self, peer: ChannelPeer, start: datetime, end: datetime) -> int:
        """Publish the range's messages, then its marker (raises on failure, no marker then)."""


async def serve_fetch_requests(collector: RangeCollector, served: dict[int, ChannelPeer],
                               stop: asyncio.Event) -> None:
    """Answer the fetch requests of the fetch-requests topic until ``stop`` is set.

    Args:
        served: the chats this collector serves, by chat id (those whose backfill completed).

    Raises:
        aiokafka.errors.KafkaError: the broker failed (ends the collector's run).
    """
    settings = collector.settings
    async with offsets_consumer(settings, client_id="tgpipe-telegram-fetch", group_id=settings.telegram_fetch_group,
                                **consumer_options(settings)) as consumer:
        consumer.subscribe([settings.topic_fetch_requests])
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=_POLL_MS)
            if batches:  # before serving: a long fetch may outlast max_poll_interval_ms (the group then moves on)
                await consumer.commit()
            for records in batches.values():
                for record in records:
                    await _answer(collector, served, record)


async def _answer(collector: RangeCollector, served: dict[int, ChannelPeer], record: ConsumerRecord) -> None:
    settings = collector.settings
    try:
        event = decode_event(record.value or b"", max_text_chars=settings.max_text_chars)
    except EventError as exc:
        await dead_letter(collector.broker, settings, record, exc)
        return
    if not isinstance(event, FetchRequested):
        return  # fetch.failed: an answer, for the requester
    request = event.payload
    peer = served.get(request.channel_id)
    try:
        if peer is None:
            raise ValueError(f"no Telegram collector serves chat {request.channel_id}")
        published = await collector.refetch(peer, request.start_date, request.end_date)
        log.info("fetch %s of chat %s served: %d message(s)", request.request_id, peer.label, published)
    except FETCH_FAILURES as exc:
        reason = f"{type(exc).__name__}: {exc}"[:1000]
        log.warning("fetch %s of chat %s failed: %s", request.request_id, request.channel_id, reason)
        answer = FetchFailed(source=collector.source, payload=FetchFailedPayload(
            request_id=request.request_id, channel_id=request.channel_id, reason=reason))
        await (await publish_event(collector.broker, settings.topic_fetch_requests, answer))
