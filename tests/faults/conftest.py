"""Fixtures of the faults group (real PostgreSQL, real broker; see tests/conftest.py for both)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from schemas import MediaRef, MessageUpsertedPayload
from services.media import fetch
from tests.support.factories import message_event
from tests.faults.checker import Checker
from tgpipe.settings import Settings

#: Records per writer (and media) batch in this group: small, so a stream has many batches.
BATCH = 10


@pytest.fixture
def fault_settings(settings: Settings) -> Settings:
    """The test's settings with small batches."""
    return settings.model_copy(update={"writer_batch_max_records": BATCH})


@pytest.fixture
def checker() -> Checker:
    return Checker()


@pytest.fixture
def photo_payloads(tmp_path: Path) -> Callable[..., list[MessageUpsertedPayload]]:
    """``make(count, channels=3, start=1)``: messages ``start..start+count-1`` spread over ``channels``
    channels (ids 100, 101…), each with its own photo file in an export folder under ``tmp_path``."""
    export = tmp_path / "export"
    (export / "photos").mkdir(parents=True)

    def make(count: int, channels: int = 3, start: int = 1) -> list[MessageUpsertedPayload]:
        payloads = []
        for i in range(start, start + count):
            (export / "photos" / f"{i}.jpg").write_bytes(b"\xff\xd8\xff" + i.to_bytes(4, "big") * 64)
            ref = MediaRef(kind="photo", export_root=str(export), path=f"photos/{i}.jpg")
            payloads.append(message_event(100 + i % channels, i, text=f"message {i}", media=[ref]).payload)
        return payloads

    return make


@pytest.fixture
def media_reads(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """How often the in-process media service read each export file (``{relative path: reads}``)."""
    reads: Counter = Counter()
    lock = threading.Lock()
    original = fetch.store_export_file

    def counting(ref: MediaRef, *args):
        with lock:
            reads[ref.path] += 1
        return original(ref, *args)

    monkeypatch.setattr(fetch, "store_export_file", counting)
    return reads
