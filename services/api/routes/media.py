"""``GET /media/{sha256}``: a file of the content store, by its digest."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import FileResponse

from services.api import queries
from services.api.deps import Connection, get_settings
from services.api.problems import Problem, responses
from tgpipe.paths import SHA256_HEX, content_path
from tgpipe.settings import Settings

router = APIRouter(tags=["media"])

_FILE = {200: {"description": "the file's bytes (a Range request gets 206 and those bytes)",
               "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}


@router.get("/media/{sha256}", response_class=FileResponse, responses=_FILE | responses(401, 404, 422))
async def media_file(request: Request, conn: Connection, settings: Annotated[Settings, Depends(get_settings)],
                     sha256: Annotated[str, Path(pattern=SHA256_HEX,
                                                 description="the file's sha256, 64 lowercase hex digits")],
                     ) -> Response:
    """A stored media file with its MIME type (``application/octet-stream`` when unknown), a strong
    ``ETag`` (its digest), range requests, and a year's immutable caching (the bytes never change)."""
    stored, mime_type = await queries.stored_mime_type(conn, sha256)
    path = content_path(settings.media_dir, sha256)
    if not stored or not path.is_file():
        raise Problem(404, "unknown-media", f"no stored file has sha256 {sha256}")
    etag = f'"{sha256}"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=31536000, immutable"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return FileResponse(path, media_type=mime_type or "application/octet-stream", headers=headers)
