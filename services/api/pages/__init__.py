"""The web viewer: server-rendered HTML pages of the archive (Jinja2), one router per module.

:func:`install` adds them to the API app: the pages (behind the API's token, a login form setting a
session cookie), their static CSS and JavaScript, HTML error pages, and the security headers
(a Content-Security-Policy without inline scripts or styles) on every response.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI

from services.api.deps import require_token
from services.api.pages import chats, edits, errors, gallery, login, message, search, timeline
from services.api.pages.render import STATIC
from services.api.pages.security import SecurityHeaders


def install(app: FastAPI) -> None:
    """Serve the viewer from ``app``: ``/`` (chats), ``/chats/…``, ``/search``, ``/login``, ``/static/…``."""
    guarded = [Depends(require_token)]
    app.include_router(login.router)
    # Fixed path segments (fragment, media) before /chats/{chat_id}/{message_id}.
    for module in (chats, search, timeline, gallery, message, edits):
        app.include_router(module.router, dependencies=guarded)
    app.mount("/static", STATIC, name="static")
    app.add_middleware(SecurityHeaders)
    errors.install(app)
