"""Which media references of a batch of committed events still need work.

``message.committed`` is at-least-once: a writer redelivery re-emits a batch's events, and the
same message may be committed again from another offset. Media is effectively-once per media
item ``(channel_id, message_id, kind)``: each is fetched once per batch at most, and never again
once its row is ``stored`` (a stored row is final).
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from schemas import MessageCommitted

_STORED = """
SELECT m.channel_id, m.message_id, m.kind
FROM media m
JOIN unnest($1::bigint[], $2::bigint[]) AS u (channel_id, message_id) USING (channel_id, message_id)
WHERE m.status = 'stored'
"""


async def pending_events(conn: asyncpg.Connection,
                         events: Sequence[MessageCommitted]) -> list[MessageCommitted]:
    """``events`` reduced to the work left: the last event of each message (offset order), its
    references whose media item is already ``stored`` left out; events left with none are dropped.

    Also keeps one media upsert from naming a row twice (PostgreSQL refuses that statement).
    """
    last = {(e.payload.channel_id, e.payload.message_id): e for e in events if e.payload.media}
    if not last:
        return []
    stored = {tuple(r) for r in await conn.fetch(_STORED, [k[0] for k in last], [k[1] for k in last])}
    pending = []
    for (channel_id, message_id), event in last.items():
        refs = [ref for ref in event.payload.media if (channel_id, message_id, ref.kind) not in stored]
        if refs:
            payload = event.payload.model_copy(update={"media": refs})
            pending.append(event.model_copy(update={"payload": payload}))
    return pending
