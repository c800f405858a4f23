"""Helpers of the media tests: an export folder, settings allowing it, and a record of every file opened."""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas import CommittedPayload, MediaRef, MessageCommitted
from services.media.fetch import fetch_rows
from services.media.persist import MediaRow
from services.media.store import ContentStore
from tgpipe.settings import Settings

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4

_opened: list[str] | None = None


def _record_open(event: str, args: tuple) -> None:
    if event == "open" and _opened is not None and isinstance(args[0], str | bytes | os.PathLike):
        _opened.append(os.fsdecode(args[0]))


sys.addaudithook(_record_open)  # hooks cannot be removed; it records only inside opened_files()


@contextlib.contextmanager
def opened_files() -> Iterator[list[str]]:
    """Every path this process passes to ``open``/``os.open`` while the block runs (audit hook)."""
    global _opened
    _opened = []
    try:
        yield _opened
    finally:
        _opened = None


@dataclass(frozen=True)
class Export:
    """``base/exports/chat`` with ``photos/good.jpg``; ``base/exports`` is the allowed root."""

    base: Path

    @property
    def allowed(self) -> Path:
        return self.base / "exports"

    @property
    def root(self) -> Path:
        return self.allowed / "chat"

    @property
    def store_dir(self) -> Path:
        return self.base / "store"

    @classmethod
    def create(cls, base: Path) -> Export:
        export = cls(base)
        (export.root / "photos").mkdir(parents=True)
        (export.root / "photos" / "good.jpg").write_bytes(JPEG)
        return export

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {"media_root": self.store_dir, "media_export_roots": (self.allowed,),
                                  "media_download_kinds": frozenset({"photo", "document"})}
        return Settings(**(values | overrides))

    def ref(self, path: str, kind: str = "photo", export_root: str | Path | None = None) -> MediaRef:
        return MediaRef(kind=kind, export_root=str(export_root or self.root), path=path)

    def stored_files(self) -> list[Path]:
        """Every file in the content store, temporary files included."""
        return [p for p in self.store_dir.rglob("*") if p.is_file()] if self.store_dir.exists() else []


def rows_for(refs: list[MediaRef], settings: Settings, **options: Any) -> list[MediaRow]:
    """The media rows :func:`fetch_rows` gives ``refs`` (message ``i + 1`` of channel 1 each)."""
    events = [MessageCommitted(source="test", payload=CommittedPayload(
        channel_id=1, message_id=i + 1, causation_id=uuid.uuid4(), media=[ref]))
        for i, ref in enumerate(refs)]
    return fetch_rows(events, ContentStore(settings.media_dir), settings, **options)
