"""An export as the ops jobs read it: opened with the settings' zone and observation time, and
counted as its payloads stream by (``tgpipe archive``, ``tgpipe verify --export``, ``tgpipe
collector export``).

Kept apart from :mod:`tgpipe.ops.archive`, whose services (writer, media, Telethon) a process
that only reads or publishes an export need not import (about 50 MB of resident memory).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from schemas import MediaKind, MessageUpsertedPayload
from services.collector.export import ExportReader
from tgpipe.ops.verify import ExportCounts
from tgpipe.settings import Settings


@dataclass
class ExportTally:
    """What the payloads of an export hold, counted as they stream by (:meth:`count`): messages by
    kind, and messages and photo references per chat."""

    kinds: Counter = field(default_factory=Counter)
    expected: ExportCounts = field(default_factory=ExportCounts)
    payloads: int = 0
    finished: bool = False
    """The stream was read to its end: the counts are complete."""

    def count(self, payloads: Iterable[MessageUpsertedPayload]) -> Iterator[MessageUpsertedPayload]:
        """Yield ``payloads`` unchanged, counting each."""
        for payload in payloads:
            message = payload.message
            self.payloads += 1
            self.kinds[message.kind] += 1
            self.expected.messages[message.channel_id] += 1
            self.expected.photos[message.channel_id] += sum(ref.kind == MediaKind.PHOTO for ref in payload.media)
            yield payload
        self.finished = True


def open_export(path: Path, settings: Settings) -> ExportReader:
    """The export at ``path`` read with the settings' ``export_timezone`` and ``export_observed_at``.

    Raises:
        ExportError: the export cannot be read; ``ExportTimezoneError`` when it gives only local
            times and no zone is set.
    """
    zone = ZoneInfo(settings.export_timezone) if settings.export_timezone else None
    return ExportReader(path, timezone=zone, observed_at=settings.export_observed_at)


#: Bytes of the head and of the tail of ``result.json`` that :func:`export_identity` hashes.
IDENTITY_SPAN = 1 << 20


def export_identity(reader: ExportReader) -> str:
    """The identity of the export ``reader`` reads, for resuming (:mod:`tgpipe.ops.resume`): the hex
    SHA-256 of ``result.json``'s size, its first and last :data:`IDENTITY_SPAN` bytes, and the
    reader's time zone and ``observed_at`` (they change the payloads). The same export copied
    elsewhere has the same identity; another export at the same path has another.

    Raises:
        OSError: the file cannot be read.
    """
    digest = hashlib.sha256(b"tgpipe export identity 1\n")
    with reader.file.open("rb") as file:
        size = file.seek(0, 2)
        file.seek(0)
        digest.update(f"{size}\n".encode() + file.read(IDENTITY_SPAN))
        file.seek(max(size - IDENTITY_SPAN, 0))
        digest.update(file.read(IDENTITY_SPAN))
    observed = reader.observed_at.isoformat() if reader.observed_at else ""
    digest.update(f"\n{reader.timezone.key if reader.timezone else ''}\n{observed}".encode())
    return digest.hexdigest()


def expected_counts(path: Path, settings: Settings) -> ExportCounts:
    """Messages and photo references per chat in the export at ``path`` (for ``verify --export``),
    counted over one streaming pass.

    Raises:
        ExportError: the export cannot be read (malformed entries are collected, not raised).
    """
    tally = ExportTally()
    for _ in tally.count(open_export(path, settings).payloads()):
        pass
    return tally.expected
