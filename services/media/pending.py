"""Which media references of a batch of committed events still need work (contract M2, O1).

``message.committed`` is at-least-once: a writer redelivery re-emits a batch's events, and the
same message may be committed again from another offset. Media follow each message's *current*
version (``messages.version_sha256``):

* a committed event for a message that is not in the database (forged, or from another
  database) is the record's fault: :class:`~tgpipe.errors.UnknownMessageError`, raised before
  anything is read or stored, so it is dead-lettered and leaves no row and no file;
* an event for a version that is no longer current is stale: nothing of it is fetched (the
  current version's own event comes after it, the writer publishes one for every version that
  wins);
* for the current version, a media item ``(channel_id, message_id, kind)`` whose row is ``stored``
  for the same file (export path, Telegram photo id) is not fetched again, only relinked to the
  version (a reactions-only change re-downloads nothing); another file under that kind (an edit
  replaced the photo) is fetched and replaces the row; an item whose last outcome was not
  ``stored`` is read again;
* an item with a row that the current version no longer has (an edit removed the photo) is
  marked ``superseded`` (its ``sha256`` stays: the file remains linked to the row).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg

from schemas import MediaRef, MessageCommitted
from schemas.vocabulary import MediaKind, MediaStatus
from tgpipe.errors import UnknownMessageError

_CURRENT = """
SELECT u.channel_id, u.message_id, m.version_sha256, (m.channel_id IS NOT NULL) AS found
FROM unnest($1::bigint[], $2::bigint[]) AS u (channel_id, message_id)
LEFT JOIN messages m USING (channel_id, message_id)
"""

_ROWS = """
SELECT md.channel_id, md.message_id, md.kind, md.status, md.source_path, md.telegram_photo_id
FROM media md
JOIN unnest($1::bigint[], $2::bigint[]) AS u (channel_id, message_id) USING (channel_id, message_id)
"""

Item = tuple[int, int, MediaKind]  # (channel_id, message_id, kind)


@dataclass
class MediaPlan:
    """What a batch of committed events asks for.

    Attributes:
        fetch: the current versions' events, each reduced to the references to read and store.
        relink: ``(channel_id, message_id, kind, version_sha256)`` of items already stored for
            the same file: only their ``version_sha256`` changes.
        supersede: ``(channel_id, message_id, kind, version_sha256)`` of rows whose item the
            current version (``version_sha256``) no longer has.
        versions: ``(channel_id, message_id)`` → the current ``version_sha256`` of each message
            the plan acts on (``None``: written before versions were recorded).
    """

    fetch: list[MessageCommitted] = field(default_factory=list)
    relink: list[tuple[int, int, MediaKind, str | None]] = field(default_factory=list)
    supersede: list[tuple[int, int, MediaKind, str | None]] = field(default_factory=list)
    versions: dict[tuple[int, int], str | None] = field(default_factory=dict)


def _same_file(row: asyncpg.Record, ref: MediaRef) -> bool:
    """Whether a stored row holds the file ``ref`` names (export path, or Telegram photo id)."""
    return (row["source_path"], row["telegram_photo_id"]) == (ref.path, ref.photo_id)


async def plan_media(conn: asyncpg.Connection, events: Sequence[MessageCommitted]) -> MediaPlan:
    """Reduce ``events`` to the work left for the current version of each message (see the module
    docstring). Per message the last event (offset order) of its current version counts; an event
    without ``version_sha256`` (a writer before contract O1) counts as current.

    Also keeps one media upsert from naming a row twice (PostgreSQL refuses that statement).

    Raises:
        UnknownMessageError: an event names a message that is not in ``messages`` (nothing is read).
    """
    if not events:
        return MediaPlan()
    keys = list(dict.fromkeys((e.payload.channel_id, e.payload.message_id) for e in events))
    current = {(r["channel_id"], r["message_id"]): r for r in await conn.fetch(
        _CURRENT, [k[0] for k in keys], [k[1] for k in keys])}
    if unknown := [key for key in keys if not current[key]["found"]]:
        raise UnknownMessageError(
            "committed event for a message that is not in the database: "
            + ", ".join(f"message {m} of chat {c}" for c, m in unknown[:5]) + (" …" if len(unknown) > 5 else ""))
    chosen = {}
    for event in events:
        key = (event.payload.channel_id, event.payload.message_id)
        version = current[key]["version_sha256"]
        if event.payload.version_sha256 is None or event.payload.version_sha256 == version:
            chosen[key] = event
    plan = MediaPlan(versions={key: current[key]["version_sha256"] for key in chosen})
    rows: dict[tuple[int, int], dict[str, asyncpg.Record]] = {}
    for row in await conn.fetch(_ROWS, [k[0] for k in chosen], [k[1] for k in chosen]):
        rows.setdefault((row["channel_id"], row["message_id"]), {})[row["kind"]] = row
    for key, event in chosen.items():
        version, existing = plan.versions[key], rows.get(key, {})
        todo = []
        for ref in event.payload.media:
            row = existing.get(ref.kind)
            if row is not None and row["status"] == MediaStatus.STORED and _same_file(row, ref):
                plan.relink.append((*key, ref.kind, version))
            else:
                todo.append(ref)
        kinds = {ref.kind for ref in event.payload.media}
        plan.supersede += [(*key, kind, version) for kind, row in existing.items()
                           if kind not in kinds and row["status"] != MediaStatus.SUPERSEDED]
        if todo:
            payload = event.payload.model_copy(update={"media": todo})
            plan.fetch.append(event.model_copy(update={"payload": payload}))
    return plan
