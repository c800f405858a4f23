"""``tgpipe verify``: integrity checks of the archive and a canonical digest of its tables.

Checks (each must be 0):

* ``orphan_media``: media rows without their message;
* ``messages_without_channel``: messages whose chat has no ``channels`` row;
* ``messages_without_sender``: messages naming a sender that has no ``senders`` row;
* ``photo_messages_without_media_row``: messages with ``media_kind = 'photo'`` and no photo media row
  of their current version (a ``superseded`` one does not count);
* ``media_not_of_current_version``: media rows, other than ``superseded`` ones, that belong to
  another version than their message's current one (``version_sha256``; contract O1). Like the
  check above, it holds once the media service has caught up with the writer;
* ``messages_without_current_version``: messages whose current text (and entities) is not the one
  version among their ``message_versions`` that leaves its text to the message (NULL ``text``,
  migration 0013);
* given an export: per chat, ``message_count_mismatch`` and ``photo_count_mismatch`` against the export.

The digest hashes every table of the schema (``alembic_version`` aside) row by row in
primary-key order, leaving out the columns listed in :data:`VOLATILE_COLUMNS` (they differ
between runs that archive the same data); its result lists them per table.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import asyncpg
from pydantic import Field, SerializerFunctionWrapHandler, computed_field, model_serializer

from schemas.vocabulary import MediaKind, MediaStatus
from tgpipe.db import connection
from tgpipe.ops.results import Result

# Columns whose values legitimately differ between two archives of the same data: when a row was
# written, and which event it came from. Tables not listed have none. (``messages.observed_at`` is
# not one: it is when the source showed the version, part of the data's order key, contract O1.)
VOLATILE_COLUMNS: dict[str, tuple[str, ...]] = {
    "messages": ("archived_at", "source_event_id"),
    "media": ("updated_at",),
    "message_versions": ("recorded_at", "source_event_id"),
    "channel_peers": ("resolved_at",),
    "unresolved_deletions": ("recorded_at",),
    "coverage": ("recorded_at",),
}

_TABLES = """
SELECT t.table_name::text AS name,
       array(SELECT k.column_name::text FROM information_schema.table_constraints c
             JOIN information_schema.key_column_usage k USING (constraint_schema, constraint_name, table_name)
             WHERE c.table_schema = t.table_schema AND c.table_name = t.table_name
               AND c.constraint_type = 'PRIMARY KEY'
             ORDER BY k.ordinal_position) AS pk,
       array(SELECT column_name::text FROM information_schema.columns
             WHERE table_schema = t.table_schema AND table_name = t.table_name
             ORDER BY ordinal_position) AS columns
FROM information_schema.tables t
WHERE t.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND t.table_name <> 'alembic_version'
ORDER BY t.table_name
"""

CheckName = Literal["orphan_media", "messages_without_channel", "messages_without_sender",
                    "photo_messages_without_media_row", "media_not_of_current_version",
                    "messages_without_current_version"]
"""The integrity checks (see the module docstring), in the order they run and print. An
:class:`IntegrityReport` refuses a check that is not listed here."""

_CHECKS: dict[CheckName, str] = {
    "orphan_media": """
        SELECT count(*) FROM media m
        WHERE NOT EXISTS (SELECT 1 FROM messages g WHERE g.channel_id = m.channel_id AND g.message_id = m.message_id)""",
    "messages_without_channel": """
        SELECT count(*) FROM messages g WHERE NOT EXISTS (SELECT 1 FROM channels c WHERE c.channel_id = g.channel_id)""",
    "messages_without_sender": """
        SELECT count(*) FROM messages g WHERE g.sender_id IS NOT NULL AND NOT EXISTS
            (SELECT 1 FROM senders s WHERE s.peer_type = g.sender_type AND s.peer_id = g.sender_id)""",
    "photo_messages_without_media_row": f"""
        SELECT count(*) FROM messages g WHERE g.media_kind = '{MediaKind.PHOTO}' AND NOT EXISTS
            (SELECT 1 FROM media m WHERE m.channel_id = g.channel_id AND m.message_id = g.message_id
                                     AND m.kind = '{MediaKind.PHOTO}' AND m.status <> '{MediaStatus.SUPERSEDED}')""",
    "media_not_of_current_version": f"""
        SELECT count(*) FROM media m JOIN messages g USING (channel_id, message_id)
        WHERE m.status <> '{MediaStatus.SUPERSEDED}' AND m.version_sha256 IS DISTINCT FROM g.version_sha256""",
    "messages_without_current_version": """
        SELECT count(*) FROM messages g WHERE
            (SELECT array_agg(v.text_sha256) FROM message_versions v
             WHERE v.channel_id = g.channel_id AND v.message_id = g.message_id AND v.text IS NULL)
            IS DISTINCT FROM ARRAY[encode(sha256(convert_to(g.text || chr(31) || g.entities::text, 'UTF8')), 'hex')]""",
}


@dataclass
class ExportCounts:
    """What an export holds per chat: ``{chat_id: count}`` of valid messages and of photo references."""

    messages: Counter = field(default_factory=Counter)
    photos: Counter = field(default_factory=Counter)


class ExportComparison(Result):
    """One chat's counts in the export and in the database (photo media rows not ``superseded``).
    JSON key of ``chat_id``: ``channel_id``."""

    chat_id: int = Field(serialization_alias="channel_id")
    messages_export: int
    messages_db: int
    photos_export: int
    photos_db: int

    @property
    def matches(self) -> bool:
        """True when the database holds as many messages and photos as the export."""
        return self.messages_db == self.messages_export and self.photos_db == self.photos_export


Digest = dict[str, dict[str, Any]]
""":func:`table_digest`'s result: ``{"<table>": {"rows", "sha256", "excluded"}, …, "all": {"sha256"}}``."""


class IntegrityReport(Result):
    """Result of :func:`verify`: violations per check, the per-chat comparisons with an export
    (empty without one) and, when asked for, the table digest (:func:`table_digest`).

    JSON: ``{"ok", "checks", "export"}`` and ``"digest"`` when there is one.
    """

    checks: dict[CheckName, int]
    export: list[ExportComparison] = []
    digest: Digest | None = None

    @computed_field
    @property
    def ok(self) -> bool:
        """True when every check is 0 and every export count matches."""
        return not any(self.checks.values()) and all(row.matches for row in self.export)

    @model_serializer(mode="wrap")
    def _ok_first(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        if data.get("digest") is None:
            data.pop("digest", None)
        return {"ok": data.pop("ok"), **data}


async def verify(conn: asyncpg.Connection, expected: ExportCounts | None = None) -> IntegrityReport:
    """Run the integrity checks, and compare with ``expected`` counts when given."""
    checks = {name: await conn.fetchval(sql) for name, sql in _CHECKS.items()}
    rows = []
    if expected is not None:
        for chat_id in sorted(expected.messages.keys() | expected.photos.keys()):
            rows.append(ExportComparison(
                chat_id=chat_id,
                messages_export=expected.messages[chat_id],
                messages_db=await conn.fetchval("SELECT count(*) FROM messages WHERE channel_id = $1", chat_id),
                photos_export=expected.photos[chat_id],
                photos_db=await conn.fetchval(
                    f"SELECT count(*) FROM media WHERE channel_id = $1 AND kind = '{MediaKind.PHOTO}' "
                    f"AND status <> '{MediaStatus.SUPERSEDED}'", chat_id),
            ))
    return IntegrityReport(checks=checks, export=rows)


def _quote(identifier: str) -> str:
    """A catalog name as a quoted SQL identifier (embedded double quotes doubled)."""
    return '"' + identifier.replace('"', '""') + '"'


async def table_digest(conn: asyncpg.Connection, *, include_volatile: bool = False) -> Digest:
    """Canonical sha256 per table (rows in primary-key order, volatile columns left out).

    Args:
        include_volatile: hash the :data:`VOLATILE_COLUMNS` too (then equal digests mean that not
            one stored value changed, e.g. across a replay into the same database).

    Returns:
        ``{"<table>": {"rows": int, "sha256": hex, "excluded": [column, …]}, …, "all": {"sha256": hex}}``
        for every table, in name order; equal digests mean equal archived state.
    """
    result: Digest = {}
    overall = hashlib.sha256()
    for table in await conn.fetch(_TABLES):
        name = table["name"]
        excluded = [] if include_volatile else [c for c in table["columns"] if c in VOLATILE_COLUMNS.get(name, ())]
        kept = [_quote(c) for c in table["columns"] if c not in excluded]
        order = [_quote(c) for c in table["pk"]] or kept
        digest = hashlib.sha256()
        count = 0
        async with conn.transaction():
            await conn.execute("SET LOCAL TimeZone = 'UTC'")  # timestamps render alike; the pool's setting is untouched
            async for row in conn.cursor(
                f'SELECT json_build_array({", ".join(kept)})::text FROM {_quote(name)} ORDER BY {", ".join(order)}'
            ):
                digest.update(row[0].encode() + b"\n")
                count += 1
        result[name] = {"rows": count, "sha256": digest.hexdigest(), "excluded": excluded}
        overall.update(f"{name}:{digest.hexdigest()}\n".encode())
    result["all"] = {"sha256": overall.hexdigest()}
    return result


@dataclass
class ArchiveCheck:
    """What ``tgpipe verify`` (and the end of ``tgpipe archive``) found: the integrity report (with
    the digest of every table when asked for), and media rows counted by ``status``."""

    report: IntegrityReport
    media_by_status: dict[str, int]


_MEDIA_BY_STATUS = ("SELECT status, count(*) FROM media WHERE $1::bigint[] IS NULL OR channel_id = ANY($1) "
                    "GROUP BY status")


async def check_archive(database_url: str, expected: ExportCounts | None = None, *, digest: bool = False,
                        chats: list[int] | None = None) -> ArchiveCheck:
    """Verify the archive at ``database_url`` (against ``expected`` export counts when given), with
    the table digest when ``digest``; media counted for ``chats`` only (all when ``None``).

    Raises:
        OSError, asyncpg.PostgresError: the database is unreachable or not migrated.
    """
    async with connection(database_url) as conn:
        report = await verify(conn, expected)
        if digest:
            report = report.model_copy(update={"digest": await table_digest(conn)})
        by_status = dict(await conn.fetch(_MEDIA_BY_STATUS, chats))
    return ArchiveCheck(report, by_status)
