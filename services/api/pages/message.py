"""``GET /chats/{chat_id}/{message_id}``: the stable link of a message — the timeline around it, the
message targeted and highlighted."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse

from services.api import queries
from services.api.models import MessageDetail
from services.api.deps import BIGINT, ChatId, Connection
from services.api.pages.timeline import timeline_page
from services.api.pages.window import key, window
from services.api.problems import Problem

router = APIRouter(include_in_schema=False)

MessageIdPath = Annotated[int, Path(**BIGINT)]


async def require_message(conn: Connection, chat_id: int, message_id: int) -> MessageDetail:
    """Message ``message_id`` of chat ``chat_id``.

    Raises:
        Problem: 404 when it is not archived.
    """
    found = await queries.detail(conn, chat_id, message_id)
    if found is None:
        raise Problem(404, "unknown-message", f"message {message_id} of chat {chat_id} is not archived")
    return found


@router.get("/chats/{chat_id}/{message_id}", response_class=HTMLResponse)
async def message_page(request: Request, chat_id: ChatId, message_id: MessageIdPath,
                       conn: Connection) -> HTMLResponse:
    """The timeline around the message: the messages before it, it, the messages after it."""
    found = await require_message(conn, chat_id, message_id)
    shown = await window(conn, chat_id, older_than=key(found), newer_than=key(found), centre=[found])
    return await timeline_page(request, conn, chat_id, shown, focus=message_id, highlight=True)
