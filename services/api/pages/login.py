"""``GET|POST /login`` and ``POST /logout``: the viewer's sign-in with the API token.

A browser cannot send ``Authorization: Bearer`` with a page navigation or an ``<img>`` load, so the
login form trades the token (compared in constant time) for a session cookie — HttpOnly,
SameSite=Strict, Secure over HTTPS — that :func:`services.api.deps.require_token` accepts. Without a
token configured the viewer is open and these pages send the browser to the chats.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.api.deps import SESSION_COOKIE, get_settings, session_value
from services.api.pages.render import page
from tgpipe.settings import Settings

router = APIRouter(include_in_schema=False)

NextQuery = Annotated[str, Query(max_length=2000)]


def safe_next(target: str) -> str:
    """``target`` when it is a path of this site (``/…``, not ``//host`` nor ``/\\host``), else ``/``:
    the login never sends a browser elsewhere."""
    if target.startswith("/") and not target.startswith(("//", "/\\")) and not any(c in target for c in "\r\n\\"):
        return target
    return "/"


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, settings: Annotated[Settings, Depends(get_settings)],
                     next: NextQuery = "/") -> Response:
    """The form asking for the token (to the chats when no token is configured)."""
    if settings.api_token is None:
        return RedirectResponse(safe_next(next), status_code=303)
    return page(request, "login.html", next=safe_next(next), error=None)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, settings: Annotated[Settings, Depends(get_settings)],
                token: Annotated[str, Form(max_length=1000)], next: Annotated[str, Form(max_length=2000)] = "/",
                ) -> Response:
    """Sign in: the right token sets the session cookie and goes on to ``next``; a wrong one is 401 with the form."""
    target = safe_next(next)
    if settings.api_token is None:
        return RedirectResponse(target, status_code=303)
    if not secrets.compare_digest(token.encode(), settings.api_token.get_secret_value().encode()):
        return page(request, "login.html", status=401, next=target, error="That is not the token.")
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, session_value(settings), httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")
    return response


@router.post("/logout")
async def logout() -> Response:
    """Sign out: the session cookie is cleared."""
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
