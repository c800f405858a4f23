"""Turning a media reference into a media row: read the bytes, store them, say what happened.

Pure of Kafka and SQL; blocking file I/O (run :func:`fetch_rows` in a worker thread).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterable

from schemas import MediaRef, MessageCommitted
from schemas.vocabulary import MediaStatus
from services.media.export_file import MediaRefused, checked_export_root, store_export_file
from services.media.persist import MediaRow
from services.media.sniff import image_mime_type
from services.media.store import ContentStore
from tgpipe.errors import MediaReadError
from tgpipe.settings import Settings

log = logging.getLogger(__name__)

#: Reads of an unreadable export file before its media row is recorded ``failed``, and the wait
#: before the second read (doubling after each).
READ_ATTEMPTS = 3
READ_RETRY_WAIT_S = 0.2


def media_row(channel_id: int, message_id: int, ref: MediaRef, store: ContentStore,
              settings: Settings) -> MediaRow:
    """Decide and produce the ``media`` row for one reference, storing the file when it may be.

    Statuses: ``stored`` (bytes in the store, ``sha256`` and ``size_bytes`` set; ``mime_type`` the
    export's, else the image type the stored bytes start with), ``not_included``
    (export placeholder), ``missing`` (no such file), ``skipped`` (kind not in
    ``media_download_kinds``; its ``size_bytes`` is the event's ``file_size``), and the refusals of
    :mod:`services.media.export_file`: ``export_root_not_allowed``, ``outside_export_root``,
    ``not_regular_file``, ``too_large``, ``not_image``, whose ``error`` names the check and which
    carry nothing read from the file (``size_bytes`` is NULL).

    Raises:
        MediaReadError: the file exists but reading it failed (:func:`fetch_rows` retries it).
        OSError: writing the store failed (the batch is retried as a whole: the service's problem,
            not the item's).
    """
    base = _row_base(channel_id, message_id, ref)
    if ref.unavailable:
        return MediaRow(status=ref.unavailable, **base)
    try:
        root = checked_export_root(ref, settings)  # before all else: an event naming /etc is flagged
        if ref.kind not in settings.media_download_kinds:
            return MediaRow(status=MediaStatus.SKIPPED, size_bytes=ref.file_size, **base)
        blob = store_export_file(ref, root, store, settings)
    except MediaRefused as exc:
        return MediaRow(status=exc.status, error=exc.reason, **base)
    if blob is None:
        return MediaRow(status=MediaStatus.MISSING, size_bytes=ref.file_size, **base)
    if base["mime_type"] is None:  # an export photo's entry names no MIME type: the bytes say it
        with store.path_for(blob.sha256).open("rb") as stored:
            base["mime_type"] = image_mime_type(stored.read(32))
    return MediaRow(status=MediaStatus.STORED, sha256=blob.sha256, size_bytes=blob.size, **base)


def _row_base(channel_id: int, message_id: int, ref: MediaRef) -> dict[str, object]:
    return {"channel_id": channel_id, "message_id": message_id, "kind": ref.kind, "mime_type": ref.mime_type,
            "width": ref.width, "height": ref.height, "source_path": ref.path}


def fetch_rows(events: Iterable[MessageCommitted], store: ContentStore, settings: Settings, *,
               attempts: int = READ_ATTEMPTS, wait_s: float = READ_RETRY_WAIT_S) -> list[MediaRow]:
    """All media rows for the export references of a batch of committed events (one per reference;
    ``source="telegram"`` references are :mod:`services.media.telegram`'s).

    A file that exists but cannot be read is read again after the rest of the batch, up to
    ``attempts`` reads in all with doubling waits (so a batch waits at most ``wait_s * (2**(attempts-1) - 1)``
    however many files fail); then its row is ``failed`` with the last error. A row's ``attempts``
    counts the reads it took.
    """
    items = [(e.payload.channel_id, e.payload.message_id, ref)
             for e in events for ref in e.payload.media if ref.source == "export"]
    rows: dict[int, MediaRow] = {}
    unreadable: dict[int, MediaReadError] = {}
    for attempt in range(1, attempts + 1):
        if attempt > 1:
            wait = wait_s * 2 ** (attempt - 2)
            log.warning("%d media file(s) unreadable, reading again in %.1f s (attempt %d of %d), e.g. %s",
                        len(unreadable), wait, attempt, attempts, next(iter(unreadable.values())))
            time.sleep(wait)
        todo, unreadable = list(unreadable) if attempt > 1 else range(len(items)), {}
        for i in todo:
            try:
                rows[i] = dataclasses.replace(media_row(*items[i], store, settings), attempts=attempt)
            except MediaReadError as exc:
                unreadable[i] = exc
        if not unreadable:
            break
    for i, error in unreadable.items():
        rows[i] = MediaRow(status=MediaStatus.FAILED, error=str(error), attempts=attempts, **_row_base(*items[i]))
    if refused := sum(row.status == MediaStatus.EXPORT_ROOT_NOT_ALLOWED for row in rows.values()):
        log.warning("%d export media item(s) refused, nothing opened: their export root is not under "
                    "TGPIPE_MEDIA_EXPORT_ROOTS (%s)", refused,
                    ", ".join(map(str, settings.media_export_roots)) or "empty: no export is read")
    return [rows[i] for i in range(len(items))]
