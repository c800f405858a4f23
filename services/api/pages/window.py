"""A window of a chat's timeline: messages around a key, with the cursors that extend it both ways.

Read by keyset on ``(date, message_id)`` (:func:`services.api.queries.page` forwards,
:func:`services.api.queries.page_before` backwards); each message comes with what the timeline shows
of it (:func:`services.api.queries.details`): reply, media, versions, deletion.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from services.api import cursor, queries
from services.api.models import Message, MessageDetail

#: Messages a window reads on each side of its key (a fragment of the infinite scroll reads as many).
PAGE = 40

Key = tuple[datetime, int]


@dataclass(frozen=True)
class Entry:
    """One row of the timeline: a message, preceded by the day it starts when it starts one (``day``)."""

    message: MessageDetail
    day: date | None


@dataclass(frozen=True)
class Window:
    """Consecutive messages of a chat in key order (``entries``), and the cursors of the messages
    before the first (``older``) and after the last (``newer``), ``None`` at either end of the chat."""

    chat_id: int
    entries: list[Entry]
    older: str | None
    newer: str | None


def key(message: Message) -> Key:
    """A message's key ``(date, message_id)``."""
    return message.date, message.message_id


async def window(conn: asyncpg.Connection, chat_id: int, *, older_than: Key | None = None,
                 newer_than: Key | None = None, centre: list[Message] | None = None) -> Window:
    """The ``PAGE`` messages before ``older_than``, then ``centre``, then the ``PAGE`` after
    ``newer_than`` (a side not given is not read, and its cursor is ``None``)."""
    first = queries.start_key(None)[0]
    before = await queries.page_before(conn, chat_id, older_than, first, PAGE + 1) if older_than else []
    after = await queries.page(conn, chat_id, newer_than, queries.LAST_KEY[0], PAGE + 1) if newer_than else []
    more_before, more_after = len(before) > PAGE, len(after) > PAGE
    rows = before[-PAGE:] + (centre or []) + after[:PAGE]
    found = await queries.details(conn, chat_id, [r.message_id for r in rows])
    entries, previous = [], None
    for detail in found:
        day = detail.date.date()
        entries.append(Entry(detail, day if day != previous else None))
        previous = day
    older = cursor.encode(key(rows[0])) if more_before else None
    newer = cursor.encode(key(rows[-1])) if more_after else None
    return Window(chat_id, entries, older, newer)


def reactions(raw: Any) -> list[tuple[str, int]]:
    """``(label, count)`` of each reaction as archived (``messages.reactions``: a list of
    ``{"type": "emoji", "emoji": "👍", "count": 3}``, ``custom_emoji``, ``paid``…); anything else is skipped."""
    out = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("count"), int):
            continue
        kind = item.get("type")
        label = item.get("emoji") if kind == "emoji" and isinstance(item.get("emoji"), str) else (
            "⭐" if kind == "paid" else "custom emoji")
        out.append((label, item["count"]))
    return out
