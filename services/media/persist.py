"""Persistence of media rows: one idempotent multi-row upsert per batch (explicit SQL)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields

import asyncpg


@dataclass(frozen=True, slots=True)
class MediaRow:
    """One row of ``media``; ``status`` is stored, missing, not_included, export_root_not_allowed,
    outside_export_root, not_regular_file, too_large, skipped, not_image, no_telegram_client or failed."""

    channel_id: int
    message_id: int
    kind: str
    status: str
    sha256: str | None = None
    size_bytes: int | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    source_path: str | None = None
    error: str | None = None
    telegram_photo_id: int | None = None
    attempts: int = 1  # tries to obtain the bytes (Telegram: downloads; 0 when deduplicated)


_COLUMNS = [f.name for f in fields(MediaRow)]
_TYPES = ["bigint", "bigint", "text", "text", "text", "bigint", "text", "integer", "integer", "text", "text",
          "bigint", "integer"]
_OUTCOME = [c for c in _COLUMNS[3:] if c != "attempts"]
_UPSERT_MEDIA = f"""
INSERT INTO media ({", ".join(_COLUMNS)})
SELECT * FROM unnest({", ".join(f"${i}::{t}[]" for i, t in enumerate(_TYPES, start=1))})
ON CONFLICT (channel_id, message_id, kind) DO UPDATE SET
    {", ".join(f"{c} = EXCLUDED.{c}" for c in _OUTCOME)},
    attempts = media.attempts + EXCLUDED.attempts, updated_at = now()
WHERE ({", ".join(f"media.{c}" for c in _OUTCOME)})
      IS DISTINCT FROM ({", ".join(f"EXCLUDED.{c}" for c in _OUTCOME)})
  AND media.status <> 'stored'
"""


async def upsert_media(conn: asyncpg.Connection, rows: Sequence[MediaRow]) -> None:
    """Upsert ``rows`` in one statement (its own transaction).

    A stored row is final: a later attempt never downgrades it; other statuses are replaced
    when the outcome changes (``attempts`` adds up), and an identical replay changes nothing.

    Raises:
        asyncpg.ForeignKeyViolationError: a row's message is not in ``messages`` (cannot happen
            when rows come from ``message.committed`` events).
    """
    if rows:
        await conn.execute(_UPSERT_MEDIA, *[list(col) for col in zip(*map(astuple, rows), strict=True)])


_EXISTING = """
SELECT channel_id, message_id FROM messages
JOIN unnest($1::bigint[], $2::bigint[]) AS u (channel_id, message_id) USING (channel_id, message_id)
"""


async def existing_messages(conn: asyncpg.Connection,
                            keys: Sequence[tuple[int, int]]) -> set[tuple[int, int]]:
    """Which of ``keys`` (``(channel_id, message_id)``) have a row in ``messages``."""
    return {tuple(r) for r in await conn.fetch(_EXISTING, [k[0] for k in keys], [k[1] for k in keys])}
