"""``GET /chats/{chat_id}/{message_id}/edits``: a message's edit history (every archived text version)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from services.api.deps import ChatId, Connection
from services.api.pages.message import MessageIdPath, require_message
from services.api.pages.render import page

router = APIRouter(include_in_schema=False)


@router.get("/chats/{chat_id}/{message_id}/edits", response_class=HTMLResponse)
async def edits_page(request: Request, chat_id: ChatId, message_id: MessageIdPath, conn: Connection) -> HTMLResponse:
    """The text versions of the message (``message_versions``), oldest first, with when each was seen valid."""
    found = await require_message(conn, chat_id, message_id)
    return page(request, "edits.html", chat_id=chat_id, message=found)
