"""``GET /media/{sha256}``: a file of the content store, by its digest."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import FileResponse

from services.api import queries, thumbnails
from services.api.deps import Connection, get_settings
from services.api.problems import Problem, responses
from tgpipe.paths import SHA256_HEX, content_path
from tgpipe.settings import Settings

router = APIRouter(tags=["media"])

_FILE = {200: {"description": "the file's bytes (a Range request gets 206 and those bytes)",
               "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}


Sha256 = Annotated[str, Path(pattern=SHA256_HEX, description="the file's sha256, 64 lowercase hex digits")]
_IMMUTABLE = "public, max-age=31536000, immutable"


def _cached(request: Request, etag: str) -> tuple[dict[str, str], Response | None]:
    """The caching headers of an immutable file, and the 304 answer when the client has it already."""
    headers = {"ETag": etag, "Cache-Control": _IMMUTABLE}
    return headers, Response(status_code=304, headers=headers) if etag in request.headers.get("if-none-match", "") else None


@router.get("/media/{sha256}", response_class=FileResponse, responses=_FILE | responses(401, 404, 422))
async def media_file(request: Request, conn: Connection, settings: Annotated[Settings, Depends(get_settings)],
                     sha256: Sha256) -> Response:
    """A stored media file with its MIME type (``application/octet-stream`` when unknown), a strong
    ``ETag`` (its digest), range requests, and a year's immutable caching (the bytes never change)."""
    stored, mime_type = await queries.stored_mime_type(conn, sha256)
    path = content_path(settings.media_dir, sha256)
    if not stored or not path.is_file():
        raise Problem(404, "unknown-media", f"no stored file has sha256 {sha256}")
    headers, not_modified = _cached(request, f'"{sha256}"')
    return not_modified or FileResponse(path, media_type=mime_type or "application/octet-stream", headers=headers)


@router.get("/media/{sha256}/thumbnail", response_class=FileResponse,
            responses={200: {"description": "a WebP image", "content": {"image/webp": {}}}} | responses(401, 404, 422, 503))
async def media_thumbnail(request: Request, conn: Connection, settings: Annotated[Settings, Depends(get_settings)],
                          sha256: Sha256) -> Response:
    """A thumbnail of a stored image (MIME type ``image/*``): WebP, at most 480 px on a side, made on the
    first request and cached in ``TGPIPE_API_THUMBNAIL_DIR``; ``ETag`` and immutable caching. 404 for
    a file that is not a stored image, or one Pillow cannot read (or of more than 40 Mpx)."""
    stored, mime_type = await queries.stored_mime_type(conn, sha256)
    source = content_path(settings.media_dir, sha256)
    if not stored or not (mime_type or "").startswith("image/") or not source.is_file():
        raise Problem(404, "unknown-media", f"no stored image has sha256 {sha256}")
    headers, not_modified = _cached(request, f'"{sha256}-{thumbnails.SIZE}"')
    if not_modified:
        return not_modified
    try:
        path = await asyncio.to_thread(thumbnails.ensure_thumbnail, source,
                                       thumbnails.thumbnail_path(settings.thumbnail_dir, sha256))
    except thumbnails.ThumbnailError as exc:
        raise Problem(404, "no-thumbnail", f"no thumbnail of {sha256}: {exc}") from None
    except OSError as exc:  # the cache folder cannot be written (a read-only media store: set the setting)
        raise Problem(503, "thumbnail-cache", f"the thumbnail cache cannot be written "
                                              f"(TGPIPE_API_THUMBNAIL_DIR): {exc.strerror}") from None
    return FileResponse(path, media_type="image/webp", headers=headers)
