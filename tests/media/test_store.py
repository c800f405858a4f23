"""The content-addressed store: digest-named, stored once, never a partial file."""

from __future__ import annotations

import hashlib
import os

import pytest

from services.media.store import ContentStore


def test_put_stores_bytes_under_their_sha256(tmp_path):
    store = ContentStore(tmp_path)
    data = b"\xff\xd8\xff photo bytes"
    digest = store.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert store.path_for(digest).read_bytes() == data


def test_identical_bytes_are_stored_once(tmp_path):
    store = ContentStore(tmp_path)
    first = store.put(b"same")
    mtime = store.path_for(first).stat().st_mtime_ns
    assert store.put(b"same") == first
    assert store.path_for(first).stat().st_mtime_ns == mtime
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [store.path_for(first)]


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    store = ContentStore(tmp_path)

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError):
        store.put(b"never visible")
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_put_stream_hashes_and_writes_chunks_as_they_come(tmp_path):
    store = ContentStore(tmp_path)
    chunks = [b"\xff\xd8\xff", b"middle" * 1000, b"end"]
    blob = store.put_stream(iter(chunks))
    data = b"".join(chunks)
    assert (blob.sha256, blob.size, blob.new) == (hashlib.sha256(data).hexdigest(), len(data), True)
    assert store.path_for(blob.sha256).read_bytes() == data
    again = store.put_stream(iter(chunks))
    assert (again.sha256, again.new) == (blob.sha256, False)
    # no temporary file left
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [store.path_for(blob.sha256)]


def test_a_stream_abandoned_midway_leaves_no_file(tmp_path):
    store = ContentStore(tmp_path)

    def chunks():
        yield b"first chunk, written to the temporary file"
        raise OSError(5, "Input/output error")  # the source fails while being read

    with pytest.raises(OSError, match="Input/output error"):
        store.put_stream(chunks())
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
