"""The resume checkpoints of ``tgpipe archive`` (table ``archive_checkpoints``, migration 0012).

A checkpoint says, for one export (its identity, :func:`tgpipe.ops.exports.export_identity`) and
one chat, how many of the chat's payloads, counted in export order, are archived for good. Only
``tgpipe archive`` writes them; a checkpoint never moves back (a late write of a smaller count
changes nothing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import asyncpg

_SAVE = """
INSERT INTO archive_checkpoints (export_identity, channel_id, payloads_done)
SELECT $1, chat, done FROM unnest($2::bigint[], $3::bigint[]) AS t(chat, done)
ON CONFLICT (export_identity, channel_id)
DO UPDATE SET payloads_done = greatest(archive_checkpoints.payloads_done, excluded.payloads_done)
"""


async def load_checkpoints(conn: asyncpg.Connection, identity: str) -> dict[int, int]:
    """``{chat id: payloads done}`` of the export ``identity`` (empty when none was saved)."""
    rows = await conn.fetch(
        "SELECT channel_id, payloads_done FROM archive_checkpoints WHERE export_identity = $1", identity)
    return {row["channel_id"]: row["payloads_done"] for row in rows}


async def save_checkpoints(conn: asyncpg.Connection, identity: str, done: Mapping[int, int]) -> None:
    """Record ``{chat id: payloads done}`` of the export ``identity`` in one statement (atomic)."""
    await conn.execute(_SAVE, identity, list(done), list(done.values()))


async def current_versions(conn: asyncpg.Connection, chat_id: int, message_ids: Sequence[int]) -> dict[int, str]:
    """``{message id: version_sha256}`` of the stored current version of each of ``message_ids`` of
    the chat (table ``messages``; an id not stored, or stored without a hash, is absent)."""
    rows = await conn.fetch("SELECT message_id, version_sha256 FROM messages WHERE channel_id = $1 "
                            "AND message_id = ANY($2::bigint[]) AND version_sha256 IS NOT NULL",
                            chat_id, list(message_ids))
    return {row["message_id"]: row["version_sha256"] for row in rows}


async def clear_checkpoints(conn: asyncpg.Connection, identity: str) -> None:
    """Forget the checkpoints of the export ``identity`` (its run completed)."""
    await conn.execute("DELETE FROM archive_checkpoints WHERE export_identity = $1", identity)
