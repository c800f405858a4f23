"""Range-complete markers of a published export (``range.completed``, contract C1).

The export collector publishes, after a chat's messages, one marker per stretch of the chat's
message ids that was published whole: the chat's first to its last message (export ``id`` and
``date``), split around any message that was refused (too large, text too long), which the
archive does not hold. A chat with no published message gets no marker.

A marker's event id is a UUID v5 of the chat, the range and the source: the same export archived
again gives the same marker, which the writer's ledger already holds (``ON CONFLICT (event_id)``).
"""

from __future__ import annotations

import uuid
from array import array
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from schemas import ChannelPayload, CoverageSource, MessagePayload, RangeCompleted, RangeCompletedPayload

_NAMESPACE = uuid.UUID("7b4c6e2a-3f0d-5c1e-9a8b-2d6f4e1c0a57")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class RangeTracker:
    """Collects, per chat, the messages published and refused, in any order; then gives the markers.

    A published message costs 16 bytes (its id and its date in microseconds, in two int64 arrays),
    so a chat of a million messages costs 16 MB, not the objects of a million payloads.
    """

    def __init__(self) -> None:
        self._chats: dict[int, ChannelPayload] = {}
        self._ids: dict[int, array] = {}
        self._dates: dict[int, array] = {}  # microseconds since the epoch, UTC
        self._refused: dict[int, set[int]] = {}

    def sent(self, chat: ChannelPayload, message: MessagePayload) -> None:
        """``message`` of ``chat`` was published."""
        self._chats.setdefault(chat.channel_id, chat)
        self._ids.setdefault(chat.channel_id, array("q")).append(message.message_id)
        self._dates.setdefault(chat.channel_id, array("q")).append((message.date - _EPOCH) // _MICROSECOND)

    def refused(self, message: MessagePayload) -> None:
        """``message`` was not published: no marker covers its id."""
        self._refused.setdefault(message.channel_id, set()).add(message.message_id)

    def markers(self, source: str, coverage: CoverageSource) -> list[RangeCompleted]:
        """The markers (envelope ``source``; ledger source ``coverage``), per chat in chat-id order,
        each a maximal id-ordered stretch of published messages with no refused id inside."""
        markers = []
        for chat_id, ids in sorted(self._ids.items()):
            dates, refused = self._dates[chat_id], sorted(self._refused.get(chat_id, ()))
            ascending = all(ids[i] <= ids[i + 1] for i in range(len(ids) - 1))  # an export's order: no sort
            order = range(len(ids)) if ascending else sorted(range(len(ids)), key=lambda i: (ids[i], dates[i]))
            for first_id, last_id, first_us, last_us in _stretches(ids, dates, order, refused):
                first_date, last_date = _EPOCH + first_us * _MICROSECOND, _EPOCH + last_us * _MICROSECOND
                payload = RangeCompletedPayload(
                    channel=self._chats[chat_id], source=coverage, first_message_id=first_id,
                    last_message_id=last_id, first_date=first_date, last_date=last_date)
                name = f"{chat_id}:{first_id}-{last_id}:{first_date.isoformat()}/{last_date.isoformat()}:{coverage}"
                markers.append(RangeCompleted(event_id=uuid.uuid5(_NAMESPACE, name), source=source, payload=payload))
        return markers


def _stretches(ids: array, dates: array, order: Iterable[int], refused: list[int]) -> list[tuple[int, int, int, int]]:
    """``(first id, last id, earliest date, latest date)`` of each stretch of the messages taken in
    ``order`` (by id), cut before each id of ``refused`` (sorted) that lies inside them."""
    stretches: list[tuple[int, int, int, int]] = []
    cuts = iter(refused)
    cut = next(cuts, None)
    current: tuple[int, int, int, int] | None = None
    for i in order:
        message_id, date = ids[i], dates[i]
        while cut is not None and cut < message_id:
            if current:
                stretches.append(current)
                current = None
            cut = next(cuts, None)
        current = (message_id, message_id, date, date) if current is None else (
            current[0], message_id, min(current[2], date), max(current[3], date))
    return stretches + ([current] if current else [])
