"""The API's SQL (read only): chats, pages of messages in ``(date, message_id)`` order, one message.

Pages are keyset pages: the rows after a key ``(date, message_id)``, served by the index
``messages_chat_date_idx (channel_id, date, message_id)`` (migration 0008). Coverage is read
through :mod:`tgpipe.db.coverage`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from services.api.models import Media, Message, MessageDetail, Sender, Version
from tgpipe.db import TEXT_VERSIONS

#: The key before every message: pages start after it when no cursor is given.
FIRST_ID = -(2**63)
#: The key after every message: pages before it end with the chat's last message.
LAST_KEY = (datetime(9999, 12, 31, tzinfo=UTC), 2**63 - 1)
#: The key of a stored photo in a chat's gallery: ``(date, message_id, media kind)``.
PhotoKey = tuple[datetime, int, str]

_COLUMNS = """m.channel_id, m.message_id, m.kind, m.date, m.edit_date, m.sender_type, m.sender_id,
       s.name AS sender_name, m.text, m.reply_to_message_id, m.forwarded_from, m.media_kind, m.deleted_at"""
_FROM = "messages m LEFT JOIN senders s ON s.peer_type = m.sender_type AND s.peer_id = m.sender_id"

# The keyset condition names the chat by equality and compares (date, message_id) as a row: the
# index (channel_id, date, message_id) then starts at the key. A row comparison that includes
# channel_id starts at the chat's first entry and reads every page up to the key (1,235 buffers
# instead of 13 for a key 250,000 messages deep: bench/read.py). A page before a key reads the same
# index backwards.
def _page_sql(forward: bool) -> str:
    keyset, bound, order = (">", "<=", "") if forward else ("<", ">=", " DESC")
    return f"""
SELECT {_COLUMNS} FROM {_FROM}
WHERE m.channel_id = $1 AND (m.date, m.message_id) {keyset} ($2, $3) AND m.date {bound} $4
  AND ($5::bigint IS NULL OR m.sender_id = $5)
ORDER BY m.channel_id{order}, m.date{order}, m.message_id{order}
LIMIT $6
"""


_PAGE, _PAGE_BEFORE = _page_sql(True), _page_sql(False)
_CHATS = """
SELECT c.channel_id, c.type, c.title, count(m.message_id) AS message_count,
       min(m.date) AS first_date, max(m.date) AS last_date
FROM channels c LEFT JOIN messages m ON m.channel_id = c.channel_id
GROUP BY c.channel_id ORDER BY c.channel_id
"""
_CHAT_DATES = "SELECT min(date), max(date) FROM messages WHERE channel_id = $1"
_DETAILS = f"""
SELECT {_COLUMNS}, m.entities, m.post_author, m.action, m.grouped_id, m.reactions, m.reply_to_peer,
       coalesce(m.deleted_at, d.deleted_at) AS deletion
FROM {_FROM} LEFT JOIN message_deletions d ON d.channel_id = m.channel_id AND d.message_id = m.message_id
WHERE m.channel_id = $1 AND m.message_id = ANY($2::bigint[])
"""
_SOME = f"SELECT {_COLUMNS} FROM {_FROM} WHERE m.channel_id = $1 AND m.message_id = ANY($2::bigint[])"
_VERSIONS = f"""
SELECT message_id, text, entities, edit_date, valid_from FROM {TEXT_VERSIONS} AS v
WHERE channel_id = $1 AND message_id = ANY($2::bigint[]) ORDER BY message_id, valid_from, recorded_at
"""
_MEDIA = """
SELECT message_id, kind, status, sha256, mime_type, size_bytes, width, height FROM media
WHERE channel_id = $1 AND message_id = ANY($2::bigint[]) ORDER BY message_id, kind
"""
_PHOTOS = """
SELECT m.message_id, m.date, md.kind, md.sha256, md.width, md.height
FROM media md JOIN messages m ON m.channel_id = md.channel_id AND m.message_id = md.message_id
WHERE md.channel_id = $1 AND md.status = 'stored' AND md.mime_type LIKE 'image/%'
  AND (m.date, m.message_id, md.kind COLLATE "C") < ($2, $3, $4::text COLLATE "C")
ORDER BY m.date DESC, m.message_id DESC, md.kind COLLATE "C" DESC
LIMIT $5
"""
_STORED = """
SELECT mime_type FROM media WHERE sha256 = $1 AND status = 'stored' ORDER BY mime_type NULLS LAST LIMIT 1
"""


def message(row: asyncpg.Record) -> Message:
    """A :class:`Message` from a row of ``_COLUMNS``."""
    sender = (Sender(type=row["sender_type"], id=row["sender_id"], name=row["sender_name"])
              if row["sender_id"] is not None else None)
    return Message(chat_id=row["channel_id"], message_id=row["message_id"], kind=row["kind"], date=row["date"],
                   edit_date=row["edit_date"], sender=sender, text=row["text"],
                   reply_to_message_id=row["reply_to_message_id"], forwarded_from=row["forwarded_from"],
                   media_kind=row["media_kind"], deleted_at=row["deleted_at"])


async def chat_exists(conn: asyncpg.Connection, chat_id: int) -> bool:
    """Whether chat ``chat_id`` is archived (a ``channels`` row)."""
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM channels WHERE channel_id = $1)", chat_id)


async def chat(conn: asyncpg.Connection, chat_id: int) -> asyncpg.Record | None:
    """Chat ``chat_id``'s ``type`` and ``title`` (``channels``), ``None`` when it is not archived."""
    return await conn.fetchrow("SELECT type, title FROM channels WHERE channel_id = $1", chat_id)


async def chat_titles(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every chat's ``channel_id`` and ``title`` (``channels``; no count: cheap), by title then id."""
    return await conn.fetch("SELECT channel_id, title FROM channels ORDER BY title NULLS LAST, channel_id")


async def chats(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every chat with ``type``, ``title``, ``message_count``, ``first_date``, ``last_date``, by id."""
    return await conn.fetch(_CHATS)


async def chat_dates(conn: asyncpg.Connection, chat_id: int) -> tuple[datetime | None, datetime | None]:
    """The dates of a chat's first and last archived message (``None`` without messages)."""
    row = await conn.fetchrow(_CHAT_DATES, chat_id)
    return row[0], row[1]


async def page(conn: asyncpg.Connection, chat_id: int, after: tuple[datetime, int], end: datetime,
               limit: int, *, sender: int | None = None) -> list[Message]:
    """At most ``limit`` messages of chat ``chat_id`` after the key ``after`` = ``(date, message_id)``
    and dated up to ``end`` (inclusive), from sender id ``sender`` when given, in key order."""
    rows = await conn.fetch(_PAGE, chat_id, after[0], after[1], end, sender, limit)
    return [message(r) for r in rows]


async def page_before(conn: asyncpg.Connection, chat_id: int, before: tuple[datetime, int], start: datetime,
                      limit: int, *, sender: int | None = None) -> list[Message]:
    """At most ``limit`` messages of chat ``chat_id`` before the key ``before`` = ``(date, message_id)``
    and dated ``start`` or later, from sender id ``sender`` when given: the ones nearest the key, in
    key order (read backwards on the index, then reversed)."""
    rows = await conn.fetch(_PAGE_BEFORE, chat_id, before[0], before[1], start, sender, limit)
    return [message(r) for r in reversed(rows)]


def start_key(start: datetime | None) -> tuple[datetime, int]:
    """The key just before the first message dated ``start`` or later (every message when ``None``)."""
    return (start or datetime(1, 1, 2, tzinfo=UTC)), FIRST_ID


async def details(conn: asyncpg.Connection, chat_id: int, message_ids: list[int]) -> list[MessageDetail]:
    """The archived ones of messages ``message_ids`` of chat ``chat_id`` (in that order), each with its
    versions, reply-to message (same chat, when archived), media and deletion time. Four queries
    whatever the number of messages."""
    rows = {r["message_id"]: r for r in await conn.fetch(_DETAILS, chat_id, message_ids)}
    wanted = [r["reply_to_message_id"] for r in rows.values()
              if r["reply_to_message_id"] is not None and r["reply_to_peer"] is None]
    replies = {r["message_id"]: message(r) for r in await conn.fetch(_SOME, chat_id, wanted)} if wanted else {}
    versions: dict[int, list[Version]] = {}
    for r in await conn.fetch(_VERSIONS, chat_id, list(rows)):
        versions.setdefault(r["message_id"], []).append(
            Version(text=r["text"], entities=r["entities"], edit_date=r["edit_date"], valid_from=r["valid_from"]))
    media: dict[int, list[Media]] = {}
    for r in await conn.fetch(_MEDIA, chat_id, list(rows)):
        fields = {k: r[k] for k in ("kind", "status", "sha256", "mime_type", "size_bytes", "width", "height")}
        media.setdefault(r["message_id"], []).append(
            Media(**fields, url=f"/media/{r['sha256']}" if r["sha256"] else None))
    out = []
    for message_id in (i for i in message_ids if i in rows):
        row = rows[message_id]
        reply = replies.get(row["reply_to_message_id"]) if row["reply_to_peer"] is None else None
        base = message(row).model_dump() | {"deleted_at": row["deletion"]}
        out.append(MessageDetail(**base, entities=row["entities"], post_author=row["post_author"],
                                 action=row["action"], grouped_id=row["grouped_id"], reactions=row["reactions"],
                                 reply_to=reply, versions=versions.get(message_id, []),
                                 media=media.get(message_id, [])))
    return out


async def detail(conn: asyncpg.Connection, chat_id: int, message_id: int) -> MessageDetail | None:
    """Message ``message_id`` of chat ``chat_id`` as :func:`details` gives it; ``None`` when it is not archived."""
    found = await details(conn, chat_id, [message_id])
    return found[0] if found else None


async def photos(conn: asyncpg.Connection, chat_id: int, before: PhotoKey,
                 limit: int) -> list[asyncpg.Record]:
    """At most ``limit`` stored images of chat ``chat_id`` (``media`` rows, status ``stored``, an
    ``image/*`` MIME type) before the key ``before`` = ``(date, message_id, kind)`` (unique: a
    message holds one media row per kind), newest first: ``message_id``, ``date``, ``kind``,
    ``sha256``, ``width``, ``height``."""
    return await conn.fetch(_PHOTOS, chat_id, *before, limit)


async def stored_mime_type(conn: asyncpg.Connection, sha256: str) -> tuple[bool, str | None]:
    """``(stored, mime_type)``: whether a media row says the file ``sha256`` is stored, and its MIME type."""
    row = await conn.fetchrow(_STORED, sha256)
    return (row is not None, row["mime_type"] if row is not None else None)
