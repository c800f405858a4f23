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
from datetime import datetime

from schemas import ChannelPayload, CoverageSource, MessagePayload, RangeCompleted, RangeCompletedPayload

_NAMESPACE = uuid.UUID("7b4c6e2a-3f0d-5c1e-9a8b-2d6f4e1c0a57")


class RangeTracker:
    """Collects, per chat, the messages published and refused, in any order; then gives the markers."""

    def __init__(self) -> None:
        self._chats: dict[int, ChannelPayload] = {}
        self._sent: dict[int, list[tuple[int, datetime]]] = {}
        self._refused: dict[int, set[int]] = {}

    def sent(self, chat: ChannelPayload, message: MessagePayload) -> None:
        """``message`` of ``chat`` was published."""
        self._chats.setdefault(chat.channel_id, chat)
        self._sent.setdefault(chat.channel_id, []).append((message.message_id, message.date))

    def refused(self, message: MessagePayload) -> None:
        """``message`` was not published: no marker covers its id."""
        self._refused.setdefault(message.channel_id, set()).add(message.message_id)

    def markers(self, source: str, coverage: CoverageSource) -> list[RangeCompleted]:
        """The markers (envelope ``source``; ledger source ``coverage``), per chat in chat-id order,
        each a maximal id-ordered stretch of published messages with no refused id inside."""
        markers = []
        for chat_id, messages in sorted(self._sent.items()):
            refused = sorted(self._refused.get(chat_id, ()))
            for stretch in _stretches(sorted(messages), refused):
                ids = (stretch[0][0], stretch[-1][0])
                dates = (min(d for _, d in stretch), max(d for _, d in stretch))
                payload = RangeCompletedPayload(
                    channel=self._chats[chat_id], source=coverage, first_message_id=ids[0], last_message_id=ids[1],
                    first_date=dates[0], last_date=dates[1])
                name = f"{chat_id}:{ids[0]}-{ids[1]}:{dates[0].isoformat()}/{dates[1].isoformat()}:{coverage}"
                markers.append(RangeCompleted(event_id=uuid.uuid5(_NAMESPACE, name), source=source, payload=payload))
        return markers


def _stretches(messages: list[tuple[int, datetime]], refused: list[int]) -> list[list[tuple[int, datetime]]]:
    """``messages`` (sorted by id) cut before each id of ``refused`` (sorted) that lies inside them."""
    stretches: list[list[tuple[int, datetime]]] = [[]]
    cuts = iter(refused)
    cut = next(cuts, None)
    for message in messages:
        while cut is not None and cut < message[0]:
            if stretches[-1]:
                stretches.append([])
            cut = next(cuts, None)
        stretches[-1].append(message)
    return [s for s in stretches if s]
