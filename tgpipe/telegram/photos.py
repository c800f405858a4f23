"""Which size of a Telegram ``Photo`` to record and download (the collector and the media service agree).

Source: Telethon's ``types.Photo.sizes`` (``PhotoSize``, ``PhotoSizeProgressive``, ``PhotoCachedSize``;
``w``/``h`` in pixels, sizes in bytes).
"""

from __future__ import annotations

from telethon.tl import types

PhotoSizeLike = types.PhotoSize | types.PhotoSizeProgressive | types.PhotoCachedSize


def photo_size_bytes(size: PhotoSizeLike) -> int:
    """Byte size of a photo size (a progressive size's largest prefix; a cached size's bytes)."""
    if isinstance(size, types.PhotoSizeProgressive):
        return max(size.sizes, default=0)
    if isinstance(size, types.PhotoCachedSize):
        return len(size.bytes)
    return size.size


def largest_photo_size(photo: object) -> PhotoSizeLike | None:
    """The largest real photo size of ``photo`` (by pixels, then bytes), or ``None``.

    Only ``photo.sizes`` are considered: ``VideoSize`` (animated profile-photo videos, in
    ``video_sizes``) is never chosen, nor are the inline previews ``PhotoStrippedSize`` and
    ``PhotoPathSize`` or ``PhotoSizeEmpty``. (Telethon's own default choice sorts video sizes
    above every photo size.)
    """
    if not isinstance(photo, types.Photo):
        return None
    real = [s for s in photo.sizes if isinstance(s, types.PhotoSize | types.PhotoSizeProgressive
                                                    | types.PhotoCachedSize)]
    return max(real, key=lambda s: (s.w * s.h, photo_size_bytes(s)), default=None)
