"""Rendering the viewer's pages: the Jinja2 environment (autoescape on for every template), its
filters, and the static files (CSS, JavaScript) with caching."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

_HERE = Path(__file__).resolve().parent.parent

ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(_HERE / "templates"), autoescape=True,
                         undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _size(count: int | None) -> str:
    if count is None:
        return "size unknown"
    for unit in ("bytes", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


ENV.filters["hm"] = lambda moment: f"{moment:%H:%M}"
ENV.filters["day"] = lambda moment: f"{moment.day} {moment:%B %Y}"
ENV.filters["iso"] = lambda moment: moment.isoformat()
ENV.filters["stamp"] = lambda moment: f"{moment:%Y-%m-%d %H:%M:%S} UTC"
ENV.filters["size"] = _size


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """``template`` rendered with ``context`` (and ``request``, ``auth``: whether a token guards the
    viewer) as an HTML response."""
    auth = request.app.state.settings.api_token is not None
    html = ENV.get_template(template).render(request=request, auth=auth, status_code=status, **context)
    return HTMLResponse(html, status_code=status)


def fragment(template: str, **context: Any) -> HTMLResponse:
    """A piece of a page (no layout), for the timeline's script to insert."""
    return HTMLResponse(ENV.get_template(template).render(**context))


def thumbnail_size(width: int | None, height: int | None, box: int) -> tuple[int, int] | None:
    """``(width, height)`` of an image of ``width`` x ``height`` px shrunk to fit ``box`` x ``box``
    (never enlarged); ``None`` when a dimension is unknown or not positive."""
    if not width or not height or width <= 0 or height <= 0:
        return None
    scale = min(1.0, box / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


ENV.globals["thumbnail_size"] = thumbnail_size


class _CachedStatic(StaticFiles):
    async def get_response(self, path: str, scope: Scope):  # type: ignore[no-untyped-def]
        response = await super().get_response(path, scope)
        response.headers.setdefault("Cache-Control", "public, max-age=3600")
        return response


#: ``/static``: the viewer's CSS and JavaScript (ETag and Last-Modified from StaticFiles, an hour's caching).
STATIC = _CachedStatic(directory=_HERE / "static")

