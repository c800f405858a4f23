"""Persistence of message events: explicit SQL, one transaction per batch, parents first.

Order inside the transaction: ``channels`` → ``senders`` → ``messages`` → ``message_versions``
→ deletions, so every foreign key is satisfied when its row is written (no deferred
constraints). Every statement is an idempotent multi-row statement: over ``unnest(…)`` for
channels, senders and deletions; the batch's ``message.upserted`` rows are ``COPY``-ed once into
a temporary stage of the connection, which the messages upsert and the versions insert read:

* a replayed event changes nothing;
* a message row is replaced only by a strictly newer edit (``edit_date`` greater than the
  stored one); an older version never rolls it back;
* an update with the *same* ``edit_date`` (Telegram sends one when only reactions or views
  changed) refreshes only ``reactions`` and ``raw`` (and ``observed_at``, ``source_event_id``),
  in the same upsert statement, and only from an event observed later
  (envelope ``time`` greater than ``messages.observed_at``), so replaying an older observation
  never rolls reactions back either;
* every distinct text version (text + entities) is kept in ``message_versions``, keyed by its
  sha256: a reactions-only update adds none, and ``valid_from`` keeps the earliest time seen;
* ``message.deleted`` sets ``messages.deleted_at`` once (the row stays); a deletion without a
  channel id goes to ``unresolved_deletions`` and is never matched to a chat.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import pydantic_core

from schemas import MessageDeleted, MessageUpserted

_UPSERT_CHANNELS = """
INSERT INTO channels (channel_id, type, title)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[])
ON CONFLICT (channel_id) DO UPDATE SET type = EXCLUDED.type, title = EXCLUDED.title
WHERE (channels.type, channels.title) IS DISTINCT FROM (EXCLUDED.type, EXCLUDED.title)
"""

# A sender's name is the one from its newest message (ties: the greater name), never "the last
# write": senders are shared across chats, so the order of writes depends on how partitions
# interleave. A maximum over all observations is the same for any order and any batching.
_UPSERT_SENDERS = """
INSERT INTO senders (peer_type, peer_id, name, name_date)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::timestamptz[])
ON CONFLICT (peer_type, peer_id) DO UPDATE SET name = EXCLUDED.name, name_date = EXCLUDED.name_date
WHERE EXCLUDED.name IS NOT NULL
  AND (senders.name_date IS NULL OR (EXCLUDED.name_date, EXCLUDED.name) > (senders.name_date, senders.name))
"""

_MESSAGE_COLUMNS = (
    "channel_id", "message_id", "kind", "date", "edit_date", "sender_type", "sender_id", "text",
    "entities", "reply_to_message_id", "reply_to_peer", "forwarded_from", "post_author", "action",
    "reactions", "grouped_id", "media_kind", "raw", "source_event_id", "observed_at",
)
_MESSAGE_TYPES = (
    "bigint", "bigint", "text", "timestamptz", "timestamptz", "text", "bigint", "text",
    "text", "bigint", "text", "text", "text", "text",
    "text", "bigint", "text", "text", "uuid", "timestamptz",
)
_JSON_COLUMNS = {"entities", "reactions", "raw"}
# Every message.upserted row of the batch is COPY-ed (binary rows: cheaper to encode and to parse
# than unnest arrays) into this stage, one per connection, created by the first batch and emptied
# at every commit; ``newest`` marks the one row per message the messages upsert takes.
# Always named through pg_temp, so no permanent table of that name can stand in for it whatever
# the search_path. The name carries the layout's version: a session that outlives a deploy (a
# pooler in transaction mode keeps server sessions) must not find an old layout under it, so
# change the suffix whenever the columns change.
_STAGE_NAME = "writer_stage_v1"
_STAGE = f"pg_temp.{_STAGE_NAME}"
_STAGE_COLUMNS = (*_MESSAGE_COLUMNS, "newest")
_CREATE_STAGE = f"""
CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE} (
    {", ".join(f"{c} {t}" for c, t in zip(_STAGE_COLUMNS, (*_MESSAGE_TYPES, "boolean"), strict=True))}
) ON COMMIT DELETE ROWS
"""

# Refreshed by a later observation of the same edit (see below); every other column only by a newer edit.
_REFRESHED = ("reactions", "raw", "observed_at", "source_event_id")
# One statement for both updates of an existing row, so ``raw`` and ``reactions`` are read once:
# * a strictly newer edit replaces every column;
# * the same ``edit_date`` (reactions/views changed, text did not) observed later, with other
#   reactions or raw, replaces only the ``_REFRESHED`` columns (the others keep their values:
#   the two cases are told apart by the edit dates being equal).
_SAME_EDIT = "messages.edit_date IS NOT DISTINCT FROM EXCLUDED.edit_date"
_UPSERT_MESSAGES = f"""
INSERT INTO messages ({", ".join(_MESSAGE_COLUMNS)})
SELECT {", ".join(f"u.{c}::jsonb" if c in _JSON_COLUMNS else f"u.{c}" for c in _MESSAGE_COLUMNS)}
FROM {_STAGE} AS u WHERE u.newest
ON CONFLICT (channel_id, message_id) DO UPDATE SET
    {", ".join(f"{c} = EXCLUDED.{c}" if c in _REFRESHED
               else f"{c} = CASE WHEN {_SAME_EDIT} THEN messages.{c} ELSE EXCLUDED.{c} END"
               for c in _MESSAGE_COLUMNS[2:])}
WHERE (EXCLUDED.edit_date IS NOT NULL
       AND (messages.edit_date IS NULL OR EXCLUDED.edit_date > messages.edit_date))
   OR ({_SAME_EDIT}
       AND (messages.observed_at IS NULL OR EXCLUDED.observed_at > messages.observed_at)
       AND (messages.reactions IS DISTINCT FROM EXCLUDED.reactions OR messages.raw IS DISTINCT FROM EXCLUDED.raw))
"""

# The hash must stay the one migration 0002 used for existing rows: text, US (0x1f), entities as jsonb text.
_INSERT_VERSIONS = f"""
INSERT INTO message_versions (channel_id, message_id, text_sha256, text, entities, edit_date, valid_from,
                              source_event_id)
SELECT DISTINCT ON (u.channel_id, u.message_id, h.sha)
       u.channel_id, u.message_id, h.sha, u.text, u.entities::jsonb, u.edit_date, coalesce(u.edit_date, u.date),
       u.source_event_id
FROM {_STAGE} AS u
CROSS JOIN LATERAL (
    SELECT encode(sha256(convert_to(u.text || chr(31) || u.entities::jsonb::text, 'UTF8')), 'hex') AS sha) AS h
ORDER BY u.channel_id, u.message_id, h.sha, coalesce(u.edit_date, u.date)
ON CONFLICT (channel_id, message_id, text_sha256) DO UPDATE SET
    edit_date = EXCLUDED.edit_date, valid_from = EXCLUDED.valid_from, source_event_id = EXCLUDED.source_event_id
WHERE EXCLUDED.valid_from < message_versions.valid_from
"""

_SOFT_DELETE = """
UPDATE messages AS m SET deleted_at = u.deleted_at
FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[]) AS u(channel_id, message_id, deleted_at)
WHERE m.channel_id = u.channel_id AND m.message_id = u.message_id AND m.deleted_at IS NULL
"""

_RECORD_UNRESOLVED = """
INSERT INTO unresolved_deletions (event_id, message_id, deleted_at, source)
SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::timestamptz[], $4::text[])
ON CONFLICT (event_id, message_id) DO NOTHING
"""


def _json(value: object) -> str | None:
    """Compact JSON text for a ``jsonb`` column (PostgreSQL normalizes it, so stored values and the
    versions' hashes do not depend on this serializer); NaN stays ``NaN``, which PostgreSQL refuses."""
    return None if value is None else pydantic_core.to_json(value, inf_nan_mode="constants").decode()


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


async def write_batch(conn: asyncpg.Connection,
                      events: Sequence[MessageUpserted | MessageDeleted]) -> list[MessageUpserted]:
    """Apply ``events`` in one transaction, parents first, deletions last.

    Args:
        conn: a connection not inside a transaction; this opens and commits one.
        events: decoded ``message.upserted`` / ``message.deleted`` events in topic order
            (duplicates allowed). Within a batch every upsert is applied before every deletion
            (Telegram never reuses a deleted message id).

    Returns:
        One upsert event per distinct message: the version that was offered to the database.

    Raises:
        asyncpg.PostgresError: the transaction is rolled back; nothing of the batch is written.
    """
    upserts = [e for e in events if isinstance(e, MessageUpserted)]
    deletions = [e for e in events if isinstance(e, MessageDeleted)]
    unique = _newest_per_message(upserts)
    # Topic order (a chat's events share one partition): the last title wins, however batches split.
    channels = {e.payload.channel.channel_id: e.payload.channel for e in upserts}
    senders = _sender_names(upserts)
    async with conn.transaction():
        if unique:
            await conn.execute(
                _UPSERT_CHANNELS,
                list(channels), [c.type for c in channels.values()], [c.title for c in channels.values()],
            )
        if senders:
            await conn.execute(
                _UPSERT_SENDERS, *_columns((*key, *named) for key, named in senders.items()))
        if unique:
            await conn.execute(_CREATE_STAGE)
            await conn.copy_records_to_table(_STAGE_NAME, schema_name="pg_temp", records=_stage_rows(upserts, unique),
                                             columns=_STAGE_COLUMNS)
            await conn.execute(_UPSERT_MESSAGES)
            await conn.execute(_INSERT_VERSIONS)
        if resolved := [(e.payload.channel_id, i, e.payload.deleted_at) for e in deletions
                        if e.payload.channel_id is not None for i in e.payload.message_ids]:
            await conn.execute(_SOFT_DELETE, *_columns(resolved))
        if unresolved := [(e.event_id, i, e.payload.deleted_at, e.source) for e in deletions
                          if e.payload.channel_id is None for i in e.payload.message_ids]:
            await conn.execute(_RECORD_UNRESOLVED, *_columns(unresolved))
    return unique


def _sender_names(events: Sequence[MessageUpserted]) -> dict[tuple[str, int], tuple[str | None, object]]:
    """Per sender ``(peer_type, peer_id)``: ``(name, date)`` of its newest named message among
    ``events`` (every version, so batching cannot matter), or ``(None, None)`` when none is named."""
    best: dict[tuple[str, int], tuple[str | None, object]] = {}
    for event in events:
        message = event.payload.message
        if (sender := message.sender) is None:
            continue
        name, date = best.setdefault((sender.peer_type, sender.peer_id), (None, None))
        if sender.name is not None and (name is None or (message.date, sender.name) > (date, name)):
            best[sender.peer_type, sender.peer_id] = (sender.name, message.date)
    return dict(sorted(best.items()))  # key order: two writers lock shared senders alike (no deadlock)


def _columns(rows) -> list[list[object]]:
    """Rows (tuples) → one list per column, as ``unnest`` takes them."""
    return [list(column) for column in zip(*rows, strict=True)]


def _stage_rows(upserts: Sequence[MessageUpserted], unique: Sequence[MessageUpserted]) -> list[tuple]:
    """One :data:`_STAGE_COLUMNS` row per event of ``upserts``; ``newest`` for those in ``unique``,
    once each (an event object passed twice is staged twice but taken once)."""
    newest = {id(e) for e in unique}
    rows = []
    for event in upserts:
        m = event.payload.message
        is_newest = id(event) in newest
        newest.discard(id(event))
        rows.append((
            m.channel_id, m.message_id, m.kind, m.date, m.edit_date,
            m.sender.peer_type if m.sender else None, m.sender.peer_id if m.sender else None, m.text,
            _json(m.entities), m.reply_to_message_id, m.reply_to_peer, m.forwarded_from, m.post_author,
            m.action, _json(m.reactions), m.grouped_id, m.media_kind, _json(m.raw), event.event_id, event.time,
            is_newest,
        ))
    return rows
