"""``GET /chats/{chat_id}/media``: a chat's stored photos as a grid of thumbnails, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from services.api import cursor as cursors
from services.api import queries
from services.api.deps import ChatId, Connection
from services.api.pages.render import page

router = APIRouter(include_in_schema=False)

#: Photos per gallery page.
PER_PAGE = 60


@router.get("/chats/{chat_id}/media", response_class=HTMLResponse)
async def gallery_page(request: Request, chat_id: ChatId, conn: Connection,
                       before: Annotated[str | None, Query(max_length=200)] = None) -> HTMLResponse:
    """The chat's stored images (thumbnails linking to their message), ``PER_PAGE`` at a time; ``before``
    is the cursor of the previous page's last photo (its key ``(date, message_id, kind)``: the images
    of one message may span two pages, none is skipped)."""
    start = cursors.decode_photo(before) if before else (*queries.LAST_KEY, "")
    rows = await queries.photos(conn, chat_id, start, PER_PAGE + 1)
    more = len(rows) > PER_PAGE
    rows = rows[:PER_PAGE]
    chat = await queries.chat(conn, chat_id)
    older = cursors.encode((rows[-1]["date"], rows[-1]["message_id"], rows[-1]["kind"])) if more else None
    return page(request, "gallery.html", chat_id=chat_id, chat=chat, photos=rows, older=older)
