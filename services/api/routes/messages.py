"""``GET /api/v1/chats/{chat_id}/messages`` (pages of what is archived) and ``…/messages/{message_id}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from services.api import cursor as cursors
from services.api import queries
from services.api.dates import parse_period
from services.api.deps import BIGINT, ChatId, Connection, get_settings
from services.api.models import MessageDetail, MessagePage
from services.api.problems import Problem, responses
from tgpipe.db.coverage import covers
from tgpipe.settings import Settings

router = APIRouter(tags=["messages"])


@router.get("/chats/{chat_id}/messages", responses=responses(401, 404, 422))
async def list_messages(
    chat_id: ChatId, conn: Connection, settings: Annotated[Settings, Depends(get_settings)],
    start_date: Annotated[str | None, Query(description="first day or instant (ISO 8601; UTC unless a zone "
                                                        "is given); default: the chat's first message")] = None,
    end_date: Annotated[str | None, Query(description="last day or instant, inclusive; default: the chat's "
                                                      "last message")] = None,
    sender: Annotated[int | None, Query(description="only messages of this sender id", **BIGINT)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000, description="messages per page (capped by "
                                                              "TGPIPE_API_PAGE_LIMIT)")] = 100,
    cursor: Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page")] = None,
) -> MessagePage:
    """What the archive holds of the chat between the dates, in ``(date, message_id)`` order, one page
    at a time. Never fetches from Telegram; ``covered`` says whether the period is archived whole."""
    first, last = await queries.chat_dates(conn, chat_id)
    start, end = parse_period(start_date, end_date, first=first, last=last)
    limit = min(limit, settings.api_page_limit)
    after = max(cursors.decode(cursor), queries.start_key(start)) if cursor else queries.start_key(start)
    rows = [] if end is None else await queries.page(conn, chat_id, after, end, limit + 1, sender=sender)
    more = len(rows) > limit
    rows = rows[:limit]
    covered = start is not None and end is not None and await covers(conn, chat_id, start, end)
    return MessagePage(chat_id=chat_id, start_date=start, end_date=end, covered=covered, messages=rows,
                       next_cursor=cursors.encode((rows[-1].date, rows[-1].message_id)) if more else None)


@router.get("/chats/{chat_id}/messages/{message_id}", responses=responses(401, 404, 422))
async def get_message(chat_id: ChatId, conn: Connection,
                      message_id: Annotated[int, Path(description="the message's id in the chat", **BIGINT)],
                      ) -> MessageDetail:
    """One message with its edit history, the message it replies to, forward origin, reactions, media
    (with ``/media/{sha256}`` URLs) and deletion state."""
    found = await queries.detail(conn, chat_id, message_id)
    if found is None:
        raise Problem(404, "unknown-message", f"message {message_id} of chat {chat_id} is not archived")
    return found
