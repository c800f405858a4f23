"""Persistence of media rows: one transaction per batch, idempotent multi-row statements (explicit SQL).

Every statement writes only rows of a message's current version (``messages.version_sha256``,
contract O1): a batch planned for a version that a newer one replaced meanwhile changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields

import asyncpg

from schemas.vocabulary import MediaKind, MediaStatus


# The columns of `media`: the same shape as the event payloads' field lists (`duplicates` pairs it with
# schemas/events.py MessagePayload), not a copy of them.
@dataclass(frozen=True, slots=True)
class MediaRow:
    """One row of ``media`` (statuses: :class:`~schemas.vocabulary.MediaStatus`); ``version_sha256``
    the message version (``messages.version_sha256``) the row belongs to."""

    channel_id: int
    message_id: int
    kind: MediaKind
    status: MediaStatus
    sha256: str | None = None
    size_bytes: int | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    source_path: str | None = None
    error: str | None = None
    telegram_photo_id: int | None = None
    attempts: int = 1  # tries to obtain the bytes (Telegram: downloads; 0 when deduplicated)
    version_sha256: str | None = None


_COLUMNS = [f.name for f in fields(MediaRow)]
_TYPES = ["bigint", "bigint", "text", "text", "text", "bigint", "text", "integer", "integer", "text", "text",
          "bigint", "integer", "text"]
_OUTCOME = [c for c in _COLUMNS[3:] if c not in ("attempts", "version_sha256")]
# The row's file: the same file under a kind keeps its stored outcome (final); another one replaces it.
_SAME_FILE = ("(media.source_path, media.telegram_photo_id) IS NOT DISTINCT FROM "
              "(EXCLUDED.source_path, EXCLUDED.telegram_photo_id)")
# Only for the message's current version (a NULL version: rows and messages from before contract O1).
_CURRENT = """JOIN messages m USING (channel_id, message_id)
WHERE u.version_sha256 IS NULL OR m.version_sha256 IS NOT DISTINCT FROM u.version_sha256"""
_UPSERT_MEDIA = f"""
INSERT INTO media ({", ".join(_COLUMNS)})
SELECT {", ".join(f"u.{c}" for c in _COLUMNS)}
FROM unnest({", ".join(f"${i}::{t}[]" for i, t in enumerate(_TYPES, start=1))}) AS u ({", ".join(_COLUMNS)})
{_CURRENT}
ON CONFLICT (channel_id, message_id, kind) DO UPDATE SET
    {", ".join(f"{c} = EXCLUDED.{c}" for c in _OUTCOME)}, version_sha256 = EXCLUDED.version_sha256,
    attempts = CASE WHEN {_SAME_FILE} AND media.status <> '{MediaStatus.SUPERSEDED}'
                    THEN media.attempts + EXCLUDED.attempts ELSE EXCLUDED.attempts END,
    updated_at = now()
WHERE (media.status <> '{MediaStatus.STORED}' OR NOT {_SAME_FILE})
  AND ({", ".join(f"media.{c}" for c in _OUTCOME)}, media.version_sha256)
      IS DISTINCT FROM ({", ".join(f"EXCLUDED.{c}" for c in _OUTCOME)}, EXCLUDED.version_sha256)
"""
# A stored item of the current version's file: linked to that version, nothing else changes.
_RELINK = f"""
UPDATE media md SET version_sha256 = u.version_sha256, updated_at = now()
FROM (SELECT u.* FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[])
          AS u (channel_id, message_id, kind, version_sha256) {_CURRENT}) AS u
WHERE (md.channel_id, md.message_id, md.kind) = (u.channel_id, u.message_id, u.kind)
  AND md.status = '{MediaStatus.STORED}' AND md.version_sha256 IS DISTINCT FROM u.version_sha256
"""
# An item the current version no longer has: superseded (sha256 kept, still linked to its version).
_SUPERSEDE = f"""
UPDATE media md SET status = '{MediaStatus.SUPERSEDED}', updated_at = now()
FROM (SELECT u.* FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[])
          AS u (channel_id, message_id, kind, version_sha256) {_CURRENT}) AS u
WHERE (md.channel_id, md.message_id, md.kind) = (u.channel_id, u.message_id, u.kind)
  AND md.status <> '{MediaStatus.SUPERSEDED}'
"""


def _columns(rows) -> list[list[object]]:
    return [list(column) for column in zip(*rows, strict=True)]


async def upsert_media(conn: asyncpg.Connection, rows: Sequence[MediaRow],
                       relink: Sequence[tuple[int, int, MediaKind, str | None]] = (),
                       supersede: Sequence[tuple[int, int, MediaKind, str | None]] = ()) -> None:
    """Write a batch's media outcome in one transaction (see :class:`services.media.pending.MediaPlan`).

    ``rows``: a stored row is final for its file (a later attempt never downgrades it); another
    file under the same kind (an edit replaced the photo), or a ``superseded`` row's item coming
    back, replaces it, ``attempts`` counting anew;
    other statuses are replaced when the outcome changes (``attempts`` adds up), and an identical
    replay changes nothing. ``relink``/``supersede``: ``(channel_id, message_id, kind,
    version_sha256)``. Every statement skips a row whose ``version_sha256`` is no longer the
    message's current version.

    Raises:
        asyncpg.PostgresError: the transaction is rolled back.
    """
    async with conn.transaction():
        if rows:
            await conn.execute(_UPSERT_MEDIA, *_columns(map(astuple, rows)))
        if relink:
            await conn.execute(_RELINK, *_columns(relink))
        if supersede:
            await conn.execute(_SUPERSEDE, *_columns(supersede))
