"""Photo thumbnails for the web viewer: made once with Pillow from a stored image, cached on disk.

A thumbnail of the content-store file ``sha256`` is ``thumbnail_dir/ab/<sha256>-<SIZE>.webp``: the
image turned upright (EXIF orientation) and shrunk to fit ``SIZE`` x ``SIZE`` pixels, as WebP. It is
written through a temporary file renamed into place, so a reader never sees half a thumbnail, and it
is never written again once there (the source bytes never change).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from PIL import Image, ImageOps

#: The longest side of a thumbnail, in pixels.
SIZE = 480
#: The most pixels a source image may have (width x height): its header is read before any pixel
#: is, so a decompression bomb is refused before it costs memory. Telegram photos are at most 2560
#: px on a side (6.6 Mpx); 40 Mpx leaves room for originals sent as files.
MAX_SOURCE_PIXELS = 40_000_000


class ThumbnailError(Exception):
    """The source cannot be made a thumbnail (not an image Pillow reads, or too many pixels)."""


def thumbnail_path(cache_dir: Path, sha256: str) -> Path:
    """Where the thumbnail of content-store file ``sha256`` (64 lowercase hex digits) is cached."""
    return cache_dir / sha256[:2] / f"{sha256}-{SIZE}.webp"


def ensure_thumbnail(source: Path, dest: Path) -> Path:
    """``dest``, the thumbnail of image file ``source``, made now unless it exists already.

    Blocking (run it in a thread). Raises:
        ThumbnailError: ``source`` is not an image Pillow reads, or has more than ``MAX_SOURCE_PIXELS``.
        OSError: ``dest``'s folder cannot be written.
    """
    if dest.is_file():
        return dest
    small = _shrunk(source)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=dest.parent, prefix=".thumbnail-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            small.save(out, "WEBP", quality=80)
        os.replace(temporary, dest)
    finally:
        Path(temporary).unlink(missing_ok=True)
    return dest


def _shrunk(source: Path) -> Image.Image:
    try:
        with Image.open(source) as image:
            if image.width * image.height > MAX_SOURCE_PIXELS:
                raise ThumbnailError(f"{image.width}x{image.height} pixels is more than {MAX_SOURCE_PIXELS}")
            image.draft("RGB", (SIZE, SIZE))  # JPEG: decode at a reduced scale already
            small = ImageOps.exif_transpose(image)
            small.thumbnail((SIZE, SIZE))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:  # UnidentifiedImageError is an OSError
        raise ThumbnailError(f"not an image Pillow can read: {exc}") from None
    if small.mode not in ("RGB", "RGBA"):
        small = small.convert("RGBA" if "A" in small.getbands() or "transparency" in small.info else "RGB")
    return small
