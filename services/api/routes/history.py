"""``GET /api/v1/history/{chat_id}``: a date range of a chat as server-sent events, whole or not at all.

The contract of the cache API tgpipe replaces: if the coverage ledger does not cover the period,
the fetcher gets it archived first (through the pipeline); only then is anything sent, so a failed
fetch answers a problem and never partial data. The stream is one ``data: {"messages": [...]}``
event per batch in ``(date, message_id)`` order, read from PostgreSQL by keyset in one read-only
snapshot (one batch in memory at a time), then ``event: end`` with the count and the covered
period. A stream without ``end`` failed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from services.api import queries
from services.api.dates import parse_range
from services.api.deps import ChatIdPath, get_fetcher, get_pool, get_settings, require_chat
from services.api.models import DateRange, HistoryEnd
from services.api.problems import Problem, responses
from tgpipe.db.coverage import covers
from tgpipe.kafka.fetch import FetchError, RangeFetcher
from tgpipe.settings import Settings

router = APIRouter(tags=["history"])

_STREAM = {200: {"description": "server-sent events: `data: {\"messages\": [Message…]}` per batch, then "
                                "`event: end` with `data: HistoryEnd`",
                 "content": {"text/event-stream": {"schema": {"type": "string"}}}}}


@router.get("/history/{chat_id}", response_class=StreamingResponse,
            responses=_STREAM | responses(401, 404, 422, 502, 503))
async def history(
    chat_id: ChatIdPath, settings: Annotated[Settings, Depends(get_settings)],
    pool: Annotated[asyncpg.Pool, Depends(get_pool)],
    fetcher: Annotated[RangeFetcher | None, Depends(get_fetcher)],
    start_date: Annotated[str, Query(description="first day or instant (ISO 8601; UTC unless a zone is given)")],
    end_date: Annotated[str, Query(description="last day or instant, inclusive")],
) -> StreamingResponse:
    """Every message of the chat dated ``start_date..end_date``, complete.

    A period the archive does not cover is fetched first when a fetcher is configured (502 when the
    fetch fails or times out), else refused (503); a covered period never touches Telegram. No
    connection is held while fetching; the stream reads from a snapshot taken after the fetch.
    """
    async with pool.acquire() as conn, conn.transaction(readonly=True):  # released before the stream
        await require_chat(conn, chat_id)
        start, end = parse_range(start_date, end_date)
        covered = await covers(conn, chat_id, start, end)
    if not covered:
        if fetcher is None:
            raise Problem(503, "not-archived", f"chat {chat_id} is not archived completely from "
                          f"{start.isoformat()} to {end.isoformat()}, and fetching is off (no fetcher configured)")
        try:
            await fetcher.fetch(chat_id, start, end)
        except FetchError as exc:
            raise Problem(502, "fetch-failed", f"fetching chat {chat_id} from {start.isoformat()} to "
                                               f"{end.isoformat()} failed: {exc.reason}") from None
        async with pool.acquire() as check, check.transaction(readonly=True):
            if not await covers(check, chat_id, start, end):
                raise Problem(502, "fetch-failed", f"the fetch of chat {chat_id} returned but the archive "
                                                   "still does not cover the period")
    return StreamingResponse(_events(pool, chat_id, start, end, settings.api_history_batch),
                             media_type="text/event-stream", headers={"Cache-Control": "no-store"})


async def _events(pool: asyncpg.Pool, chat_id: int, start: datetime, end: datetime,
                  batch: int) -> AsyncIterator[str]:
    count = 0
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        after = queries.start_key(start)
        while rows := await queries.page(conn, chat_id, after, end, batch):
            count += len(rows)
            after = (rows[-1].date, rows[-1].message_id)
            body = json.dumps({"messages": [r.model_dump(mode="json") for r in rows]}, ensure_ascii=False,
                              separators=(",", ":"))
            yield "data: " + body + "\n\n"
    final = HistoryEnd(chat_id=chat_id, count=count, covered=DateRange(start=start, end=end))
    yield "event: end\ndata: " + final.model_dump_json() + "\n\n"
