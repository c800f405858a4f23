"""Persistence of message events: explicit SQL, one transaction per batch, parents first.

Order inside the transaction: ``channels`` → ``senders`` → ``messages``, so every foreign key
is satisfied when its row is written (no deferred constraints). Every statement is an
idempotent multi-row upsert (``INSERT … SELECT FROM unnest(…) ON CONFLICT``):

* a replayed event changes nothing;
* a message row is replaced only by a strictly newer edit (``edit_date`` greater than the
  stored one); an older version never rolls it back.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import asyncpg

from schemas import MessageUpserted

_UPSERT_CHANNELS = """
INSERT INTO channels (channel_id, type, title)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[])
ON CONFLICT (channel_id) DO UPDATE SET type = EXCLUDED.type, title = EXCLUDED.title
WHERE (channels.type, channels.title) IS DISTINCT FROM (EXCLUDED.type, EXCLUDED.title)
"""

_UPSERT_SENDERS = """
INSERT INTO senders (peer_type, peer_id, name)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[])
ON CONFLICT (peer_type, peer_id) DO UPDATE SET name = EXCLUDED.name
WHERE EXCLUDED.name IS NOT NULL AND senders.name IS DISTINCT FROM EXCLUDED.name
"""

_MESSAGE_COLUMNS = (
    "channel_id", "message_id", "kind", "date", "edit_date", "sender_type", "sender_id", "text",
    "entities", "reply_to_message_id", "reply_to_peer", "forwarded_from", "post_author", "action",
    "reactions", "grouped_id", "media_kind", "raw", "source_event_id",
)
_MESSAGE_TYPES = (
    "bigint", "bigint", "text", "timestamptz", "timestamptz", "text", "bigint", "text",
    "text", "bigint", "text", "text", "text", "text",
    "text", "bigint", "text", "text", "uuid",
)
_JSON_COLUMNS = {"entities", "reactions", "raw"}
_UPSERT_MESSAGES = f"""
INSERT INTO messages ({", ".join(_MESSAGE_COLUMNS)})
SELECT {", ".join(f"u.{c}::jsonb" if c in _JSON_COLUMNS else f"u.{c}" for c in _MESSAGE_COLUMNS)}
FROM unnest({", ".join(f"${i}::{t}[]" for i, t in enumerate(_MESSAGE_TYPES, start=1))})
     AS u({", ".join(_MESSAGE_COLUMNS)})
ON CONFLICT (channel_id, message_id) DO UPDATE SET
    {", ".join(f"{c} = EXCLUDED.{c}" for c in _MESSAGE_COLUMNS[2:])}
WHERE EXCLUDED.edit_date IS NOT NULL
  AND (messages.edit_date IS NULL OR EXCLUDED.edit_date > messages.edit_date)
"""


def _json(value: object) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _newest_per_message(events: Sequence[MessageUpserted]) -> list[MessageUpserted]:
    """Keep one event per ``(channel_id, message_id)``: the newest edit, else the latest offset."""
    chosen: dict[tuple[int, int], MessageUpserted] = {}
    for event in events:
        message = event.payload.message
        key = (message.channel_id, message.message_id)
        current = chosen.get(key)
        if current is None or _version(message) >= _version(current.payload.message):
            chosen[key] = event
    return list(chosen.values())


def _version(message) -> float:
    return message.edit_date.timestamp() if message.edit_date else float("-inf")


async def write_batch(conn: asyncpg.Connection, events: Sequence[MessageUpserted]) -> list[MessageUpserted]:
    """Upsert ``events`` in one transaction, parents first.

    Args:
        conn: a connection not inside a transaction; this opens and commits one.
        events: decoded ``message.upserted`` events in topic order (duplicates allowed).

    Returns:
        One event per distinct message: the version that was offered to the database.

    Raises:
        asyncpg.PostgresError: the transaction is rolled back; nothing of the batch is written.
    """
    unique = _newest_per_message(events)
    channels = {e.payload.channel.channel_id: e.payload.channel for e in unique}
    senders = {(s.peer_type, s.peer_id): s for e in unique if (s := e.payload.message.sender)}
    async with conn.transaction():
        await conn.execute(
            _UPSERT_CHANNELS,
            list(channels), [c.type for c in channels.values()], [c.title for c in channels.values()],
        )
        if senders:
            await conn.execute(
                _UPSERT_SENDERS,
                [s.peer_type for s in senders.values()], [s.peer_id for s in senders.values()],
                [s.name for s in senders.values()],
            )
        await conn.execute(_UPSERT_MESSAGES, *_message_columns(unique))
    return unique


def _message_columns(events: Sequence[MessageUpserted]) -> list[list[object]]:
    rows = []
    for event in events:
        m = event.payload.message
        rows.append((
            m.channel_id, m.message_id, m.kind, m.date, m.edit_date,
            m.sender.peer_type if m.sender else None, m.sender.peer_id if m.sender else None, m.text,
            _json(m.entities), m.reply_to_message_id, m.reply_to_peer, m.forwarded_from, m.post_author,
            m.action, _json(m.reactions), m.grouped_id, m.media_kind, _json(m.raw), event.event_id,
        ))
    return [list(column) for column in zip(*rows, strict=True)]
