"""``tgpipe verify``: integrity checks of the archive and a canonical digest of its tables.

Checks (each must be 0):

* ``orphan_media``: media rows without their message;
* ``messages_without_channel``: messages whose channel row is missing;
* ``messages_without_sender``: messages naming a sender that has no ``senders`` row;
* ``photo_messages_without_media_row``: messages with ``media_kind = 'photo'`` and no photo media row;
* ``messages_without_current_version``: messages whose current text (and entities) is not among
  their ``message_versions``;
* given an export: per chat, ``message_count_mismatch`` and ``photo_count_mismatch`` against the export.

The digest hashes every table's rows in primary-key order, leaving out the columns listed in
:data:`VOLATILE_COLUMNS` (they differ between runs that archive the same data).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

import asyncpg

# Columns whose values legitimately differ between two archives of the same data.
VOLATILE_COLUMNS: dict[str, tuple[str, ...]] = {
    "channels": (),
    "senders": (),
    "messages": ("archived_at", "source_event_id", "observed_at"),
    "media": ("updated_at",),
    "message_versions": ("recorded_at", "source_event_id"),
    "channel_peers": ("resolved_at",),
    "unresolved_deletions": ("recorded_at",),
}
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "channels": ("channel_id",),
    "senders": ("peer_type", "peer_id"),
    "messages": ("channel_id", "message_id"),
    "media": ("channel_id", "message_id", "kind"),
    "message_versions": ("channel_id", "message_id", "text_sha256"),
    "channel_peers": ("account_id", "channel_id"),
    "unresolved_deletions": ("event_id", "message_id"),
}

_CHECKS = {
    "orphan_media": """
        SELECT count(*) FROM media m
        WHERE NOT EXISTS (SELECT 1 FROM messages g WHERE g.channel_id = m.channel_id AND g.message_id = m.message_id)""",
    "messages_without_channel": """
        SELECT count(*) FROM messages g WHERE NOT EXISTS (SELECT 1 FROM channels c WHERE c.channel_id = g.channel_id)""",
    "messages_without_sender": """
        SELECT count(*) FROM messages g WHERE g.sender_id IS NOT NULL AND NOT EXISTS
            (SELECT 1 FROM senders s WHERE s.peer_type = g.sender_type AND s.peer_id = g.sender_id)""",
    "photo_messages_without_media_row": """
        SELECT count(*) FROM messages g WHERE g.media_kind = 'photo' AND NOT EXISTS
            (SELECT 1 FROM media m WHERE m.channel_id = g.channel_id AND m.message_id = g.message_id
                                     AND m.kind = 'photo')""",
    "messages_without_current_version": """
        SELECT count(*) FROM messages g WHERE NOT EXISTS
            (SELECT 1 FROM message_versions v WHERE v.channel_id = g.channel_id AND v.message_id = g.message_id
                                                AND v.text = g.text AND v.entities = g.entities)""",
}


@dataclass
class ExportCounts:
    """What an export holds per chat: ``{channel_id: count}`` of valid messages and of photo references."""

    messages: Counter = field(default_factory=Counter)
    photos: Counter = field(default_factory=Counter)


@dataclass
class IntegrityReport:
    """Result of :func:`verify`: check name → number of violations, plus per-chat comparisons."""

    checks: dict[str, int]
    export: list[dict[str, int]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every check is 0 and every export count matches."""
        return not any(self.checks.values()) and all(
            row["messages_db"] == row["messages_export"] and row["photos_db"] == row["photos_export"]
            for row in self.export
        )

    def as_dict(self) -> dict:
        """JSON-ready form (``--json``)."""
        return {"ok": self.ok, "checks": self.checks, "export": self.export}


async def verify(conn: asyncpg.Connection, expected: ExportCounts | None = None) -> IntegrityReport:
    """Run the integrity checks, and compare with ``expected`` counts when given."""
    checks = {name: await conn.fetchval(sql) for name, sql in _CHECKS.items()}
    rows = []
    if expected is not None:
        for channel_id in sorted(expected.messages.keys() | expected.photos.keys()):
            rows.append({
                "channel_id": channel_id,
                "messages_export": expected.messages[channel_id],
                "messages_db": await conn.fetchval("SELECT count(*) FROM messages WHERE channel_id = $1",
                                                   channel_id),
                "photos_export": expected.photos[channel_id],
                "photos_db": await conn.fetchval(
                    "SELECT count(*) FROM media WHERE channel_id = $1 AND kind = 'photo'", channel_id),
            })
    return IntegrityReport(checks=checks, export=rows)


async def table_digest(conn: asyncpg.Connection) -> dict[str, dict[str, object]]:
    """Canonical sha256 per table (rows in primary-key order, volatile columns left out).

    Returns:
        ``{"<table>": {"rows": int, "sha256": hex}, …, "all": {"sha256": hex}}``; equal
        digests mean equal archived state.
    """
    await conn.execute("SET TimeZone = 'UTC'")
    result: dict[str, dict[str, object]] = {}
    overall = hashlib.sha256()
    for table, pk in PRIMARY_KEYS.items():
        columns = await conn.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = $1 AND table_schema = "
            "current_schema() ORDER BY ordinal_position", table)
        kept = [c["column_name"] for c in columns if c["column_name"] not in VOLATILE_COLUMNS[table]]
        digest = hashlib.sha256()
        count = 0
        async with conn.transaction():
            async for row in conn.cursor(
                f"SELECT json_build_array({', '.join(kept)})::text FROM {table} ORDER BY {', '.join(pk)}"
            ):
                digest.update(row[0].encode() + b"\n")
                count += 1
        result[table] = {"rows": count, "sha256": digest.hexdigest()}
        overall.update(f"{table}:{digest.hexdigest()}\n".encode())
    result["all"] = {"sha256": overall.hexdigest()}
    return result
