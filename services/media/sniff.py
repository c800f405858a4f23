"""Tell image bytes from other bytes by their leading signature (no decoding, no dependency).

Used for ``photo`` media only, on the first chunk read of the file (the media service reads in
chunks of 1 MiB; every signature here lies in the first 512 bytes): a photo file that is not an
image (an HTML error page, a PDF, an executable named ``.jpg``) is recorded as ``not_image`` and
its bytes are not stored. The description of a non-image names a kind of file, never its bytes.
"""

from __future__ import annotations

# Leading bytes of the image formats a photo may have (Telegram exports write JPEG).
_IMAGE_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)
_ISO_MEDIA_IMAGE_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis")
# Well-known non-image signatures, to say what the bytes look like instead.
_OTHER_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x7fELF", "an ELF executable"),
    (b"MZ", "a Windows executable"),
    (b"\x1f\x8b", "gzip data"),
    (b"OggS", "Ogg audio/video"),
    (b"ID3", "MP3 audio"),
)


def image_format(data: bytes) -> str | None:
    """The image format ``data`` starts with (``"JPEG"``, ``"PNG"``, ``"GIF"``, ``"WebP"``, ``"BMP"``,
    ``"TIFF"``, ``"HEIF/AVIF"``), or ``None`` when it is not one of them."""
    for signature, name in _IMAGE_SIGNATURES:
        if data.startswith(signature):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    if data[4:8] == b"ftyp" and data[8:12] in _ISO_MEDIA_IMAGE_BRANDS:
        return "HEIF/AVIF"
    return None


def describe_non_image(data: bytes) -> str:
    """A short, human description of bytes that are not an image, for the media row's ``error``: the
    kind of file when its signature is a known one, never any of its bytes (nor its size)."""
    if not data:
        return "the file is empty"
    for signature, name in _OTHER_SIGNATURES:
        if data.startswith(signature):
            return f"the file is {name}, not an image"
    head = data[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return "the file is an HTML page, not an image"
    if data[4:8] == b"ftyp":
        return "the file is an MP4/QuickTime video, not an image"
    return "the file is not an image (no known image signature)"


_MIME_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WebP": "image/webp",
               "BMP": "image/bmp", "TIFF": "image/tiff"}


def image_mime_type(data: bytes) -> str | None:
    """The MIME type of the image ``data`` starts with (``image/jpeg``, ``image/png``…; AVIF and HEIF
    told apart by the ``ftyp`` brand), or ``None`` when it is not an image :func:`image_format` knows."""
    found = image_format(data)
    if found == "HEIF/AVIF":
        return "image/avif" if data[8:12] in (b"avif", b"avis") else "image/heif"
    return _MIME_TYPES.get(found) if found else None
