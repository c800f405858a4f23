"""Fetching a range the archive does not cover, through the pipeline (issue 12).

The API asks for chat ``chat_id``'s messages dated ``start..end``; a :class:`RangeFetcher` gets them
archived: it publishes a ``fetch.requested`` event (fetch-requests topic, keyed by chat), which the
running Telegram collector serves by publishing the range's messages and then a ``range.completed``
marker into the chat's partition of the messages topic; the single writer records the coverage in
the transaction that commits the marker. The fetcher returns once the coverage ledger covers the
range, and raises :class:`FetchError` when the collector answers ``fetch.failed`` or nothing covers
the range in time. Nothing is served before that, so a range is served whole or not at all.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Protocol

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker

from schemas import FetchFailed, FetchRequested, FetchRequestedPayload, decode_event
from schemas.errors import EventError
from tgpipe.errors import ConfigurationError, TgpipeError
from tgpipe.kafka.admin import offsets_consumer
from tgpipe.kafka.broker import publish_event
from tgpipe.settings import Settings

log = logging.getLogger(__name__)


class FetchError(TgpipeError):
    """A range could not be fetched: ``reason`` says why (the collector's ``fetch.failed`` reason, no
    collector answered within the timeout, or the broker is not configured)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RangeFetcher(Protocol):
    """Gets a chat's date range archived completely through the pipeline."""

    async def fetch(self, chat_id: int, start: datetime, end: datetime) -> None:
        """Return once ``start..end`` (inclusive, aware) of chat ``chat_id`` is covered in the ledger.

        Raises:
            FetchError: the collector failed, or no coverage arrived within the fetch timeout.
        """
        ...


#: ``uncovered(chat_id, start, end)``: the ``(first, last)`` parts of the period not covered yet
#: (:func:`tgpipe.db.coverage.pool_uncovered` reads them from the coverage ledger).
Uncovered = Callable[[int, datetime, datetime], Awaitable[list[tuple[datetime, datetime]]]]
_POLL_S = 0.2  # longest wait for an answer between two reads of the coverage ledger


class KafkaRangeFetcher:
    """:class:`RangeFetcher` through the fetch-requests topic (``TGPIPE_TOPIC_FETCH_REQUESTS``).

    :meth:`fetch` asks only for the holes: one ``fetch.requested`` per uncovered part of the period
    (keyed by chat), then reads the request's partition from the request's own offset (the
    publish's ack gives it: no end offsets, which Tansu gets wrong) for a ``fetch.failed`` with one
    of its request ids, and between two polls (at most 0.2 s) asks ``uncovered`` whether the
    coverage ledger covers the period yet.

    Args:
        broker: a started producer-side broker.
        uncovered: the uncovered parts of a period (read from the coverage ledger).
    """

    def __init__(self, broker: KafkaBroker, settings: Settings, uncovered: Uncovered) -> None:
        self.broker = broker
        self.settings = settings
        self.uncovered = uncovered

    async def fetch(self, chat_id: int, start: datetime, end: datetime) -> None:
        """Return once chat ``chat_id``'s ``start..end`` (inclusive, aware; ``end`` cut at now, and a
        period that starts in the future returns at once) is covered; at once when it is.

        Raises:
            FetchError: the collector answered ``fetch.failed`` (its reason), the period was not
                covered within ``api_fetch_timeout_s``, or the broker failed.
        """
        end = min(end, datetime.now(UTC))  # later messages do not exist yet: nothing to fetch there
        if start > end:
            return
        holes = await self.uncovered(chat_id, start, end)
        if not holes:
            return
        try:
            await self._fetch(chat_id, start, end, holes)
        except (KafkaError, ConfigurationError) as exc:
            raise FetchError(f"the broker failed: {type(exc).__name__}: {exc}") from exc

    async def _fetch(self, chat_id: int, start: datetime, end: datetime, holes: list[tuple[datetime, datetime]]
                     ) -> None:
        topic, timeout = self.settings.topic_fetch_requests, self.settings.api_fetch_timeout_s
        requests: set[uuid.UUID] = set()
        positions: dict[TopicPartition, int] = {}
        for first, last in holes:
            request = FetchRequested(source="tgpipe-api", payload=FetchRequestedPayload(
                request_id=uuid.uuid4(), channel_id=chat_id, start_date=first, end_date=last))
            sent = await (await publish_event(self.broker, topic, request))
            requests.add(request.payload.request_id)
            where = TopicPartition(topic, sent.partition)
            positions[where] = min(positions.get(where, sent.offset), sent.offset)
        log.info("chat %s: asked to fetch %d uncovered part(s) of %s..%s", chat_id, len(holes), start, end)
        deadline = time.monotonic() + timeout
        async with offsets_consumer(self.settings, client_id="tgpipe-api-fetch") as consumer:
            consumer.assign(list(positions))
            for where, offset in positions.items():
                consumer.seek(where, offset)
            while await self.uncovered(chat_id, start, end):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise FetchError(f"chat {chat_id}: {start.isoformat()}..{end.isoformat()} was not covered within "
                                     f"{timeout:g} s (TGPIPE_API_FETCH_TIMEOUT_S); is a Telegram collector serving "
                                     "this chat running?")
                for records in (await consumer.getmany(timeout_ms=max(1, int(min(left, _POLL_S) * 1000)))).values():
                    if reason := _failure(records, requests):
                        raise FetchError(reason)


def _failure(records: list[ConsumerRecord], requests: set[uuid.UUID]) -> str | None:
    """The reason of the first ``fetch.failed`` among ``records`` answering one of ``requests``."""
    for record in records:
        try:
            event = decode_event(record.value or b"")
        except EventError:
            continue  # not ours to judge: the collector dead-letters it
        if isinstance(event, FetchFailed) and event.payload.request_id in requests:
            return event.payload.reason
    return None
