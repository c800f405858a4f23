"""``GET /``: the chats list (type, title, message count, date span, coverage)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from services.api.deps import Connection
from services.api.pages.render import page
from services.api.routes.chats import list_chats

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def chats_page(request: Request, conn: Connection) -> HTMLResponse:
    """Every archived chat, as ``GET /api/v1/chats`` gives them, each linking to its timeline."""
    return page(request, "chats.html", chats=(await list_chats(conn)).chats)
