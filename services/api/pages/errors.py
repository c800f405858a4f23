"""Errors of the viewer's pages as HTML: an error page with the status and what went wrong (never a
traceback), or, for a page refused for want of the token, a redirect to the login page. The JSON
API (``/api/…``, ``/media/…``, ``/health``) keeps its ``application/problem+json`` answers."""

from __future__ import annotations

import logging
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from services.api import problems
from services.api.pages.render import page
from services.api.problems import Problem

_log = logging.getLogger(__name__)
_API = ("/api/", "/media/", "/health", "/openapi.json", "/docs", "/redoc")


def is_page(request: Request) -> bool:
    """Whether ``request`` is for the viewer (anything but the JSON API, media files and the docs)."""
    return not request.url.path.startswith(_API)


def render(request: Request, problem: Problem) -> Response | None:
    """The HTML answer of ``problem`` for a page request (``None`` for the API: JSON): a 401 is a 303
    redirect to ``/login?next=<this page>``; any other an error page with the problem's status."""
    if not is_page(request):
        return None
    if problem.status == 401:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    return page(request, "error.html", status=problem.status, title=problem.kind.replace("-", " "),
                detail=problem.detail)


async def _unexpected(request: Request, exc: Exception) -> Response:
    _log.exception("the page %s failed", request.url.path)
    if not is_page(request):
        return Problem(500, "internal-error", "the server failed; see its log").response()
    return page(request, "error.html", status=500, title="internal error",
                detail="The server failed to answer this page; its log says why.")


def install(app: FastAPI) -> None:
    """Answer the errors of ``app``'s pages as HTML (and its API's as problems)."""
    problems.install(app, render)
    app.add_exception_handler(Exception, _unexpected)
