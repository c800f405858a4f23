"""Persistence of message events: explicit SQL, one transaction per batch, parents first.

Order inside the transaction: ``channels`` → ``senders`` → ``messages`` → ``message_versions``
→ deletions, so every foreign key is satisfied when its row is written (no deferred
constraints). Every statement is an idempotent multi-row statement: over ``unnest(…)`` for
chats, senders and deletions; the batch's ``message.upserted`` rows are ``COPY``-ed into a
temporary stage of the connection, which the messages upsert and the versions insert read. They are
staged and applied in parts of :data:`PART_ROWS`, still in the one transaction: while PostgreSQL
applies part k, this process builds the rows of part k+1 (the two work on two cores at once).

Every table keeps, per row, the maximum of a total order over the data itself (contract O1), so
the state is the same for any arrival order, batching, partition count or writer replicas:

* a message row is the version with the greatest :func:`order_key` ``(edit_date, observed_at,
  version_sha256)``: a newer edit wins; the same ``edit_date`` (Telegram sends one when only
  reactions or views changed) observed later at its source wins; equal observations are decided
  by the content's sha256. Never by offset or by the envelope ``time``. A replayed event changes
  nothing;
* a chat's ``title`` and ``type`` come from its newest titled observation (:func:`_title_key`):
  a late older event never rolls a title back and an observation without a title never wipes it;
* every distinct text version (text + entities) is kept in ``message_versions``, keyed by its
  sha256: a reactions-only update adds none, and ``valid_from`` keeps the earliest time seen. The
  current version's text, entities and search columns are stored once, in ``messages``: its
  versions row holds NULL there, and gets them back when an edit supersedes it (migration 0013);
* a message row and a superseded version's row carry their text's search columns (``search_text``,
  ``search_vector``: :func:`tgpipe.db.search.document`, computed here in Python, per staged event);
* ``message.deleted`` records the earliest deletion time per message in ``message_deletions``
  (also for a message not archived yet) and copies it to ``messages.deleted_at`` (the row stays);
  a deletion without a chat id goes to ``unresolved_deletions`` and is never matched to a chat;
* ``range.completed`` adds one ``coverage`` row per marker (keyed by the marker's event id: a
  replayed marker adds nothing), after the chat row from its ``channel`` (the same guarded chat
  upsert as messages, the marker's ``last_date`` standing for when its title was shown). The
  marker follows its range's messages on the chat's partition, so they are committed in this
  batch or an earlier one (contract C1).

:func:`write_batch` returns the events whose version is the stored one after the commit (won now,
or already stored: a redelivered batch), so ``message.committed`` is never published for a
version that lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import asyncpg
import pydantic_core

from schemas import ChannelPayload, MessageDeleted, MessageUpserted, MessageUpsertedPayload, RangeCompleted
from tgpipe.db import search

# The newest titled observation of a chat wins (:func:`_title_key`; NULLs sort first, strings
# compare by code point as Python does: COLLATE "C" on UTF-8).
_UPSERT_CHATS = """
INSERT INTO channels (channel_id, type, title, title_date)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[])
ON CONFLICT (channel_id) DO UPDATE SET
    type = EXCLUDED.type, title = EXCLUDED.title, title_date = EXCLUDED.title_date
WHERE (EXCLUDED.title IS NOT NULL, EXCLUDED.title_date, coalesce(EXCLUDED.title, '') COLLATE "C",
       EXCLUDED.type COLLATE "C")
    > (channels.title IS NOT NULL, coalesce(channels.title_date, '-infinity'),
       coalesce(channels.title, '') COLLATE "C", channels.type COLLATE "C")
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
    "reactions", "grouped_id", "media_kind", "raw", "source_event_id", "observed_at", "version_sha256",
)
_MESSAGE_TYPES = (
    "bigint", "bigint", "text", "timestamptz", "timestamptz", "text", "bigint", "text",
    "text", "bigint", "text", "text", "text", "text",
    "text", "bigint", "text", "text", "uuid", "timestamptz", "text",
)
_JSON_COLUMNS = {"entities", "reactions", "raw"}
# Every message.upserted row of the batch is COPY-ed (binary rows: cheaper to encode and to parse
# than unnest arrays) into this stage, one per connection, created by the first batch and emptied
# at every commit; ``newest`` marks the one row per message the messages upsert takes.
# Always named through pg_temp, so no permanent table of that name can stand in for it whatever
# the search_path. The name carries the layout's version: a session that outlives a deploy (a
# pooler in transaction mode keeps server sessions) must not find an old layout under it, so
# change the suffix whenever the columns change.
_STAGE_NAME = "writer_stage_v4"
_STAGE = f"pg_temp.{_STAGE_NAME}"
# ``search_text`` and ``search_terms`` (space-joined) come from tgpipe.db.search.document(text);
# ``part``: the part of the batch whose statements apply the row (see PART_ROWS): the part it is
# staged in, or a later one, that of its message's newest event (a version row needs its message row).
_STAGE_COLUMNS = (*_MESSAGE_COLUMNS, "search_text", "search_terms", "newest", "part")
_CREATE_STAGE = f"""
CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE} (
    {", ".join(f"{c} {t}" for c, t in zip(_STAGE_COLUMNS, (*_MESSAGE_TYPES, "text", "text", "boolean", "integer"),
                                          strict=True))}
) ON COMMIT DELETE ROWS
"""
#: ``message.upserted`` events staged and applied per part. Smaller parts overlap more of the
#: client's row building with the server's work, at one more round trip and two more statements
#: each (docs/performance.md, "Overlap").
PART_ROWS = 128
_SEARCH_COLUMNS = ("search_text", "search_vector")
_SEARCH_VALUES = "u.search_text, array_to_tsvector(string_to_array(u.search_terms, ' '))"

# The order key of contract O1 in SQL (:func:`order_key` in Python): a stored row without
# observed_at or version_sha256 (written before migration 0005) sorts below any observation.
_KEY = ("(coalesce({t}.edit_date, '-infinity'), coalesce({t}.observed_at, '-infinity'), "
        "coalesce({t}.version_sha256, '') COLLATE \"C\")")
_UPSERT_MESSAGES = f"""
INSERT INTO messages ({", ".join(_MESSAGE_COLUMNS + _SEARCH_COLUMNS)})
SELECT {", ".join(f"u.{c}::jsonb" if c in _JSON_COLUMNS else f"u.{c}" for c in _MESSAGE_COLUMNS)}, {_SEARCH_VALUES}
FROM {_STAGE} AS u WHERE u.newest AND u.part = $1
ON CONFLICT (channel_id, message_id) DO UPDATE SET
    {", ".join(f"{c} = EXCLUDED.{c}" for c in _MESSAGE_COLUMNS[2:] + _SEARCH_COLUMNS)}
WHERE {_KEY.format(t="EXCLUDED")} > {_KEY.format(t="messages")}
"""

# The batch's messages whose stored version is the staged one: the ones to announce as committed.
_CURRENT = f"""
SELECT u.channel_id, u.message_id FROM {_STAGE} AS u
JOIN messages AS m USING (channel_id, message_id)
WHERE u.newest AND m.version_sha256 = u.version_sha256
"""

# The hash must stay the one migration 0002 used for existing rows: text, US (0x1f), entities as jsonb text.
_SHA = "encode(sha256(convert_to({t}.text || chr(31) || {t}.entities{cast}::text, 'UTF8')), 'hex')"
# A message's current text version is stored once, in ``messages``: its ``message_versions`` row
# keeps the key and the dates, and NULL text, entities and search columns (migration 0013). Every
# message of the part (``touched``): its current version's sha256 once this statement is done
# (``upserted``'s row, else the stored one) and, when the upsert replaced a stored row, that row's
# (``replaced``), whose version row gets its text back (``demoted``) unless it stays current.
_INSERT_VERSIONS = f"""
touched AS MATERIALIZED (
    SELECT k.channel_id, k.message_id, m.channel_id IS NOT NULL AND n.channel_id IS NOT NULL AS replaced,
           CASE WHEN n.channel_id IS NOT NULL THEN {_SHA.format(t="n", cast="")}
                ELSE {_SHA.format(t="m", cast="")} END AS current_sha
    FROM (SELECT DISTINCT channel_id, message_id FROM {_STAGE} WHERE part = $1) AS k
    LEFT JOIN upserted AS n USING (channel_id, message_id)
    LEFT JOIN messages AS m USING (channel_id, message_id)
), observed AS (
    SELECT u.channel_id, u.message_id, h.sha, h.sha = t.current_sha AS current, u.text,
           u.entities::jsonb AS entities, u.search_text AS search_text, u.search_terms, u.edit_date,
           coalesce(u.edit_date, u.date) AS valid_from, u.source_event_id
    FROM {_STAGE} AS u JOIN touched AS t USING (channel_id, message_id)
    CROSS JOIN LATERAL (SELECT {_SHA.format(t="u", cast="::jsonb")} AS sha) AS h
    WHERE u.part = $1
), demoted AS (
    SELECT m.channel_id, m.message_id, h.sha, false AS current, m.text, m.entities, m.search_text, m.search_vector,
           m.edit_date, coalesce(m.edit_date, m.date) AS valid_from, m.source_event_id
    FROM touched AS t JOIN messages AS m USING (channel_id, message_id)
    CROSS JOIN LATERAL (SELECT {_SHA.format(t="m", cast="")} AS sha) AS h
    WHERE t.replaced AND h.sha <> t.current_sha
)
INSERT INTO message_versions (channel_id, message_id, text_sha256, text, entities, edit_date, valid_from,
                              source_event_id, search_text, search_vector)
SELECT DISTINCT ON (r.channel_id, r.message_id, r.sha)
       r.channel_id, r.message_id, r.sha, r.text, r.entities, r.edit_date, r.valid_from, r.source_event_id,
       r.search_text, r.search_vector
FROM (SELECT o.channel_id, o.message_id, o.sha, o.edit_date, o.valid_from, o.source_event_id,
             CASE WHEN NOT o.current THEN o.text END AS text, CASE WHEN NOT o.current THEN o.entities END AS entities,
             CASE WHEN NOT o.current THEN o.search_text END AS search_text,
             CASE WHEN NOT o.current THEN array_to_tsvector(string_to_array(o.search_terms, ' ')) END AS search_vector
      FROM observed AS o
      UNION ALL
      SELECT channel_id, message_id, sha, edit_date, valid_from, source_event_id, text, entities, search_text,
             search_vector
      FROM demoted) AS r
ORDER BY r.channel_id, r.message_id, r.sha, r.valid_from
ON CONFLICT (channel_id, message_id, text_sha256) DO UPDATE SET
    text = EXCLUDED.text, entities = EXCLUDED.entities, search_text = EXCLUDED.search_text,
    search_vector = EXCLUDED.search_vector,
    edit_date = CASE WHEN EXCLUDED.valid_from < message_versions.valid_from THEN EXCLUDED.edit_date
                     ELSE message_versions.edit_date END,
    source_event_id = CASE WHEN EXCLUDED.valid_from < message_versions.valid_from THEN EXCLUDED.source_event_id
                           ELSE message_versions.source_event_id END,
    valid_from = least(EXCLUDED.valid_from, message_versions.valid_from)
WHERE EXCLUDED.valid_from < message_versions.valid_from
   OR (EXCLUDED.text IS NULL) <> (message_versions.text IS NULL)
"""

# A part's statements as one (a prepared statement, planned once per connection); the versions'
# foreign keys are checked at its end, after the messages upsert of the CTE, whose rows the
# versions insert sees only through its RETURNING (one snapshot for the whole statement).
_APPLY_PART = (f"WITH upserted AS ({_UPSERT_MESSAGES.rstrip()} RETURNING channel_id, message_id, text, entities), "
               f"{_INSERT_VERSIONS}")

# One ledger row per range-complete marker; a redelivered or replayed marker adds nothing.
_RECORD_COVERAGE = """
INSERT INTO coverage (event_id, channel_id, message_ids, dates, source)
SELECT u.event_id, u.channel_id, int8range(u.first_id, u.last_id, '[]'), tstzrange(u.first_date, u.last_date, '[]'),
       u.source
FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[], $5::timestamptz[], $6::timestamptz[], $7::text[])
     AS u(event_id, channel_id, first_id, last_id, first_date, last_date, source)
ON CONFLICT (event_id) DO NOTHING
"""

# The earliest deletion time per message, kept even before the message is archived (a deletion
# may arrive first), then copied to the messages of the batch (upserted or deleted) it concerns.
_RECORD_DELETIONS = """
INSERT INTO message_deletions (channel_id, message_id, deleted_at)
SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[])
ON CONFLICT (channel_id, message_id) DO UPDATE SET deleted_at = EXCLUDED.deleted_at
WHERE EXCLUDED.deleted_at < message_deletions.deleted_at
"""

_SOFT_DELETE = """
UPDATE messages AS m SET deleted_at = d.deleted_at
FROM unnest($1::bigint[], $2::bigint[]) AS u(channel_id, message_id)
JOIN message_deletions AS d USING (channel_id, message_id)
WHERE m.channel_id = u.channel_id AND m.message_id = u.message_id AND m.deleted_at IS DISTINCT FROM d.deleted_at
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


_NEVER = datetime.min.replace(tzinfo=UTC)


def version_sha256(payload: MessageUpsertedPayload) -> str:
    """sha256 (hex) of one observed version: the message and its media references as JSON (the
    wire form: field order of the schema, ``raw`` in its source's key order). Equal for the same
    logical event published twice; the last part of :func:`order_key`, and what
    ``message.committed`` names as ``version_sha256``."""
    wire = pydantic_core.to_json((payload.message, payload.media), inf_nan_mode="constants")
    return hashlib.sha256(wire).hexdigest()


def order_key(payload: MessageUpsertedPayload, sha256: str | None = None) -> tuple[datetime, datetime, str]:
    """The total order of a message's versions (contract O1): ``(edit_date, observed_at,
    version_sha256)``, an absent date sorting first. Never the offset or the envelope ``time``: an
    export's envelope time is when it was published, not when Telegram showed that version.
    ``sha256``: the payload's :func:`version_sha256` when already computed."""
    return (payload.message.edit_date or _NEVER, payload.observed_at or _NEVER, sha256 or version_sha256(payload))


ChatObservation = tuple[ChannelPayload, datetime]


def _title_key(observation: ChatObservation) -> tuple[bool, datetime, str, str]:
    """Order of a chat's observations ``(chat, when its title was shown)``: titled before untitled,
    then by that date, then title and type (a deterministic tiebreak)."""
    chat, date = observation
    return (chat.title is not None, date, chat.title or "", chat.type)


def _title_date(payload: MessageUpsertedPayload) -> datetime:
    """When the source showed the chat's title: ``observed_at``, else (events of older collectors)
    the message's edit or send date, a lower bound."""
    message = payload.message
    return payload.observed_at or message.edit_date or message.date


def _newest_per_message(events: Sequence[MessageUpserted], hashes: dict[int, str]) -> list[MessageUpserted]:
    """Keep one event per ``(chat id, message id)``: the greatest :func:`order_key` (the same
    logical event twice: the later one). ``hashes``: ``id(event)`` → its :func:`version_sha256`."""
    chosen: dict[tuple[int, int], tuple[tuple, MessageUpserted]] = {}
    for event in events:
        key = _message_key(event)
        order = order_key(event.payload, hashes[id(event)])
        current = chosen.get(key)
        if current is None or order >= current[0]:
            chosen[key] = (order, event)
    return [event for _, event in chosen.values()]


def _chat_observations(upserts: Sequence[MessageUpserted], markers: Sequence[RangeCompleted]
                       ) -> list[ChatObservation]:
    """Every chat observation of the batch: a message's chat at :func:`_title_date`, a marker's at
    its ``last_date`` (the source showed the chat no earlier than its range's last message)."""
    return ([(e.payload.channel, _title_date(e.payload)) for e in upserts]
            + [(m.payload.channel, m.payload.last_date) for m in markers])


def _newest_chats(observations: Sequence[ChatObservation]) -> dict[int, ChatObservation]:
    """Per chat id, the observation with the greatest :func:`_title_key`."""
    best: dict[int, ChatObservation] = {}
    for observation in observations:
        chat_id = observation[0].channel_id
        if chat_id not in best or _title_key(observation) > _title_key(best[chat_id]):
            best[chat_id] = observation
    return dict(sorted(best.items()))  # key order: two writers lock shared rows alike


def _earliest_deletions(deletions: Sequence[MessageDeleted]) -> list[tuple[int, int, datetime]]:
    """``(chat id, message id, deleted_at)`` once per message of a chat (the earliest time; an id
    may be listed twice), in key order; deletions without a chat are left out."""
    earliest: dict[tuple[int, int], datetime] = {}
    for event in deletions:
        if (chat_id := event.payload.channel_id) is None:
            continue
        for message_id in event.payload.message_ids:
            key = (chat_id, message_id)
            earliest[key] = min(earliest.get(key, event.payload.deleted_at), event.payload.deleted_at)
    return [(*key, at) for key, at in sorted(earliest.items())]


def _message_key(event: MessageUpserted) -> tuple[int, int]:
    return event.payload.message.channel_id, event.payload.message.message_id


async def write_batch(conn: asyncpg.Connection,
                      events: Sequence[MessageUpserted | MessageDeleted | RangeCompleted]) -> list[MessageUpserted]:
    """Apply ``events`` in one transaction, parents first, deletions last.

    Args:
        conn: a connection not inside a transaction; this opens and commits one.
        events: decoded ``message.upserted`` / ``message.deleted`` / ``range.completed`` events in
            topic order (duplicates allowed). Within a batch every upsert is applied before every
            deletion (Telegram never reuses a deleted message id); the markers' coverage rows are
            written in the same transaction (contract C1).

    Returns:
        One upsert event per distinct message whose version is the stored one once the
        transaction commits (it won, or it was stored already: a redelivery); a version that lost
        to a newer one (:func:`order_key`) is left out, so it is never announced as committed.

    Raises:
        asyncpg.PostgresError: the transaction is rolled back; nothing of the batch is written.
    """
    upserts = [e for e in events if isinstance(e, MessageUpserted)]
    deletions = [e for e in events if isinstance(e, MessageDeleted)]
    markers = [e for e in events if isinstance(e, RangeCompleted)]
    hashes = {id(e): version_sha256(e.payload) for e in upserts}
    unique = _newest_per_message(upserts, hashes)
    chats = _newest_chats(_chat_observations(upserts, markers))
    senders = _sender_names(upserts)
    resolved = _earliest_deletions(deletions)
    current: set[tuple[int, int]] = set()
    async with conn.transaction():
        if chats:
            await conn.execute(_UPSERT_CHATS, list(chats), *_columns(
                (chat.type, chat.title, date) for chat, date in chats.values()))
        if senders:
            await conn.execute(
                _UPSERT_SENDERS, *_columns((*key, *named) for key, named in senders.items()))
        if unique:
            current = await _write_messages(conn, upserts, unique, hashes)
        if resolved:
            await conn.execute(_RECORD_DELETIONS, *_columns(resolved))
        if touched := sorted({(c, m) for c, m, _ in resolved} | {_message_key(e) for e in unique}):
            await conn.execute(_SOFT_DELETE, *_columns(touched))
        if unresolved := [(e.event_id, i, e.payload.deleted_at, e.source) for e in deletions
                          if e.payload.channel_id is None for i in e.payload.message_ids]:
            await conn.execute(_RECORD_UNRESOLVED, *_columns(unresolved))
        if markers:
            await conn.execute(_RECORD_COVERAGE, *_columns(
                (m.event_id, m.payload.channel.channel_id, m.payload.first_message_id, m.payload.last_message_id,
                 m.payload.first_date, m.payload.last_date, m.payload.source) for m in markers))
    return [e for e in unique if _message_key(e) in current]


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


async def _write_messages(conn: asyncpg.Connection, upserts: Sequence[MessageUpserted],
                          unique: Sequence[MessageUpserted], hashes: dict[int, str]) -> set[tuple[int, int]]:
    """Stage ``upserts`` and apply them to ``messages`` and ``message_versions`` in parts of
    :data:`PART_ROWS`, inside the caller's transaction; return the ``(chat id, message id)`` whose
    stored version is the staged newest one (``unique``: one event per message, :func:`_newest_per_message`).

    Part k's two statements go to the server as one (:data:`_APPLY_PART`); the rows of part k+1 are built
    while it runs, and COPY-ed once it is done (a connection runs one operation at a time). Each
    message's newest event lies in exactly one part, so each part's upsert meets a message once;
    a version row is applied with the part of its message's newest event when that comes later
    (the version's foreign key needs the message row); a version applied in two parts keeps the
    earlier ``valid_from`` (the insert's conflict rule).
    """
    await conn.execute(_CREATE_STAGE)
    newest = {id(e) for e in unique}
    newest_part: dict[tuple[int, int], int] = {}
    for i, event in enumerate(upserts):
        if id(event) in newest:
            newest_part.setdefault(_message_key(event), i // PART_ROWS)
    applying: asyncio.Future | None = None
    try:
        for part, start in enumerate(range(0, len(upserts), PART_ROWS)):
            rows = _stage_rows(upserts[start:start + PART_ROWS], newest, hashes,
                               lambda key, part=part: max(part, newest_part[key]))
            if applying is not None:
                await applying
            await conn.copy_records_to_table(_STAGE_NAME, schema_name="pg_temp", columns=_STAGE_COLUMNS,
                                             records=rows)
            applying = asyncio.ensure_future(conn.execute(_APPLY_PART, part))
            await asyncio.sleep(0)  # let it send the statements before the next part's rows are built
        await applying
    finally:
        if applying is not None and not applying.done():  # building rows failed: let the part end first
            with contextlib.suppress(Exception):  # the error raised is the first one
                await applying
    return {tuple(r) for r in await conn.fetch(_CURRENT)}


def _stage_rows(upserts: Sequence[MessageUpserted], newest: set[int], hashes: dict[int, str],
                part: Callable[[tuple[int, int]], int] = lambda _key: 0) -> list[tuple]:
    """One :data:`_STAGE_COLUMNS` row per event of ``upserts``; ``newest``: the ``id()`` of the
    events to flag as the one per message the upsert takes, removed from the set as they are
    staged, so an event object passed twice is staged twice but taken once; ``part``: the part
    that applies a row, by ``(chat id, message id)``."""
    rows = []
    for event in upserts:
        m = event.payload.message
        is_newest = id(event) in newest
        newest.discard(id(event))
        found = search.document(m.text)
        rows.append((
            m.channel_id, m.message_id, m.kind, m.date, m.edit_date,
            m.sender.peer_type if m.sender else None, m.sender.peer_id if m.sender else None, m.text,
            _json(m.entities), m.reply_to_message_id, m.reply_to_peer, m.forwarded_from, m.post_author,
            m.action, _json(m.reactions), m.grouped_id, m.media_kind, _json(m.raw), event.event_id,
            event.payload.observed_at, hashes[id(event)], found.search_text, found.terms, is_newest,
            part((m.channel_id, m.message_id)),
        ))
    return rows
