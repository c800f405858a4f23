"""Turning a media reference into a media row: read the bytes, store them, say what happened.

Pure of Kafka and SQL; blocking file I/O (run :func:`fetch_rows` in a worker thread).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from schemas import MediaRef, MessageCommitted
from services.media.persist import MediaRow
from services.media.sniff import describe_non_image, image_format
from services.media.store import ContentStore
from tgpipe.errors import UnsafePathError
from tgpipe.paths import safe_resolve


def read_export_file(ref: MediaRef) -> bytes | None:
    """Bytes of an export media file, or ``None`` when the file is absent.

    The path (export ``photo``/``file`` field) is resolved again under ``ref.export_root``.

    Raises:
        UnsafePathError: the path escapes the export root (it is not opened).
        OSError: the file exists but cannot be read.
    """
    path = safe_resolve(Path(ref.export_root or ""), ref.path or "")
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return None


def media_row(channel_id: int, message_id: int, ref: MediaRef, store: ContentStore,
              download_kinds: Iterable[str]) -> MediaRow:
    """Decide and produce the ``media`` row for one reference, storing the bytes when there are any.

    Statuses: ``stored`` (bytes in the store, ``sha256`` set), ``not_included`` (export placeholder),
    ``outside_export_root`` (unsafe path, never read), ``missing`` (no such file), ``skipped``
    (kind not in ``download_kinds``), ``not_image`` (a ``photo`` whose bytes are not an image:
    not stored, ``error`` says what they look like).

    Raises:
        OSError: reading the source or writing the store failed (transient or not: the caller decides).
    """
    base = {"channel_id": channel_id, "message_id": message_id, "kind": ref.kind, "mime_type": ref.mime_type,
            "width": ref.width, "height": ref.height, "source_path": ref.path}
    if ref.unavailable:
        return MediaRow(status=ref.unavailable, **base)
    if ref.kind not in download_kinds:
        return MediaRow(status="skipped", size_bytes=ref.file_size, **base)
    try:
        data = read_export_file(ref)
    except UnsafePathError as exc:
        return MediaRow(status="outside_export_root", error=str(exc), **base)
    if data is None:
        return MediaRow(status="missing", size_bytes=ref.file_size, **base)
    if ref.kind == "photo" and image_format(data) is None:
        return MediaRow(status="not_image", size_bytes=len(data), error=describe_non_image(data), **base)
    return MediaRow(status="stored", sha256=store.put(data), size_bytes=len(data), **base)


def fetch_rows(events: Iterable[MessageCommitted], store: ContentStore, download_kinds: Iterable[str]) -> list[MediaRow]:
    """All media rows for the export references of a batch of committed events (one per reference;
    ``source="telegram"`` references are :mod:`services.media.telegram`'s)."""
    kinds = frozenset(download_kinds)
    return [
        media_row(e.payload.channel_id, e.payload.message_id, ref, store, kinds)
        for e in events for ref in e.payload.media if ref.source == "export"
    ]
