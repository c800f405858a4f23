"""``GET /chats/{chat_id}``: a chat's timeline (the latest messages, or from a date), and
``GET /chats/{chat_id}/fragment``: the messages before or after a cursor, for the infinite scroll."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from services.api import cursor as cursors
from services.api import queries
from services.api.dates import parse_bound
from services.api.deps import ChatId, Connection
from services.api.pages.render import fragment, page
from services.api.pages.window import Window, key, reactions, window
from services.api.problems import bad_parameter

router = APIRouter(include_in_schema=False)

CursorQuery = Annotated[str | None, Query(max_length=200)]


async def timeline_page(request: Request, conn: Connection, chat_id: int, shown: Window, *,
                        focus: int | None, highlight: bool = False, notice: str | None = None) -> HTMLResponse:
    """The timeline page of ``shown``, scrolled to message ``focus`` (the last one when ``None``),
    highlighted when ``highlight``."""
    chat = await queries.chat(conn, chat_id)
    if focus is None and shown.entries:
        focus = shown.entries[-1].message.message_id
    return page(request, "timeline.html", chat_id=chat_id, chat=chat, window=shown, focus=focus,
                highlight=highlight, reactions=reactions, notice=notice)


@router.get("/chats/{chat_id}", response_class=HTMLResponse)
async def timeline(request: Request, chat_id: ChatId, conn: Connection,
                   date: Annotated[str | None, Query(max_length=40)] = None,
                   before: CursorQuery = None, after: CursorQuery = None) -> HTMLResponse:
    """The chat's latest messages; from ``date`` (ISO 8601 day or instant; the last messages when none
    is as late) with a few before it; or the page before or after a cursor (the infinite scroll's
    links, for a browser without JavaScript)."""
    if before:
        shown = await window(conn, chat_id, older_than=cursors.decode(before))
        return await timeline_page(request, conn, chat_id, shown, focus=None)
    if after:
        shown = await window(conn, chat_id, newer_than=cursors.decode(after))
        first = shown.entries[0].message.message_id if shown.entries else None
        return await timeline_page(request, conn, chat_id, shown, focus=first)
    if date:
        start = queries.start_key(parse_bound("date", date, end=False))
        shown = await window(conn, chat_id, older_than=start, newer_than=start)
        later = [e.message for e in shown.entries if key(e.message) > start]
        if later:
            return await timeline_page(request, conn, chat_id, shown, focus=later[0].message_id)
        notice = f"No message is dated {date} or later; the latest are shown."
        return await timeline_page(request, conn, chat_id, shown, focus=None, notice=notice)
    shown = await window(conn, chat_id, older_than=queries.LAST_KEY)
    return await timeline_page(request, conn, chat_id, shown, focus=None)


@router.get("/chats/{chat_id}/fragment", response_class=HTMLResponse)
async def timeline_fragment(chat_id: ChatId, conn: Connection, before: CursorQuery = None,
                            after: CursorQuery = None) -> HTMLResponse:
    """The messages before cursor ``before`` or after cursor ``after`` (one of them), as list items with
    the link that loads the next ones (none at the chat's end)."""
    if (before is None) == (after is None):
        raise bad_parameter("before" if before is None else "after", "give exactly one of before and after")
    if before is not None:
        shown = await window(conn, chat_id, older_than=cursors.decode(before))
    else:
        shown = await window(conn, chat_id, newer_than=cursors.decode(after or ""))
    return fragment("fragment.html", chat_id=chat_id, window=shown, focus=None, highlight=False, reactions=reactions,
                    direction="older" if before is not None else "newer")
