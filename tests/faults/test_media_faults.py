"""The media service under faults: lying or repeated committed events, unreadable files, a full disk."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from schemas import CommittedPayload, MediaRef, MessageCommitted, encode_event
from services.media import fetch
from tests.support.factories import message_event
from tests.support.records import peek
from tests.faults.harness import committed_count, keys_of, publish, run_until
from tests.support.broker import collector
from tests.support.waiting import eventually
from tgpipe.runtime.inprocess import running_services
from tgpipe.errors import MediaReadError
from tgpipe.runtime.progress import ProgressTracker

pytestmark = pytest.mark.faults


async def _media_rows(db) -> dict[int, dict]:
    async with db.acquire() as conn:
        return {r["message_id"]: dict(r) for r in await conn.fetch("SELECT * FROM media")}


async def _until_processed(tracker: ProgressTracker, count: int) -> None:
    await tracker.wait_until(lambda: len(tracker.processed) >= count, stall_timeout=30)


async def test_contract_M1_no_media_row_without_its_message(fault_settings, db, tmp_path):
    settings = fault_settings
    (tmp_path / "a.jpg").write_bytes(b"\xff\xd8\xff lying")
    ref = MediaRef(kind="photo", export_root=str(tmp_path), path="a.jpg")
    # A committed event for a message that is not in the database (a forged or stale event), and
    # a message.upserted record on the committed topic: neither may produce a media row.
    forged = MessageCommitted(source="test", payload=CommittedPayload(channel_id=7, message_id=1,
                                                                      causation_id=uuid.uuid4(), media=[ref]))
    wrong_topic = message_event(7, 2, media=[ref])
    tracker = ProgressTracker()
    async with running_services(settings, tracker, writer=False) as broker:
        for event in (forged, wrong_topic):
            await broker.publish(encode_event(event), topic=settings.topic_committed, key=b"7")
        dead: list = []

        async def both_dead_lettered() -> bool:
            dead[:] = await peek(settings, settings.topic_dead_letter)
            return len(dead) == 2

        await eventually(both_dead_lettered, 30, "both records dead-lettered")
    assert sorted(dict(r.headers)["tgpipe-error-class"].decode() for r in dead) == [
        "EventSchemaError", "UnknownMessageError"]
    assert await _media_rows(db) == {}
    # Refused before anything was read: no file in the content store (an orphan blob before).
    assert not [p for p in settings.media_dir.rglob("*") if p.is_file()]


async def test_contract_M2_repeated_committed_events_fetch_each_item_once(
        fault_settings, db, checker, photo_payloads, media_reads, caplog):
    settings, payloads = fault_settings, photo_payloads(6)
    await publish(settings, checker, payloads, source="m2")
    await run_until(settings, db, keys_of(payloads), media=False)  # messages committed, no media yet

    async with collector(settings) as broker:  # every committed event twice more, in order
        for record in await peek(settings, settings.topic_committed):
            for _ in range(2):
                await broker.publish(record.value, topic=settings.topic_committed, key=record.key)
    caplog.set_level(logging.WARNING, "tgpipe.kafka.consume")
    tracker = ProgressTracker()
    async with running_services(settings, tracker, writer=False):
        await _until_processed(tracker, 6)

        async def all_consumed() -> bool:
            return await committed_count(settings, settings.media_group, settings.topic_committed) == 18

        await eventually(all_consumed, 30, "all 18 committed events consumed")

    assert media_reads == {f"photos/{i}.jpg": 1 for i in range(1, 7)}
    assert {(r["status"], r["attempts"]) for r in (await _media_rows(db)).values()} == {("stored", 1)}
    assert not [r for r in caplog.records if "failed permanently" in r.getMessage()]
    report = await checker.check(settings, db)
    assert report.problems(allow_committed_duplicates=True) == []


async def test_contract_M3_read_failures_retried_then_recorded_failed_with_attempts(
        fault_settings, db, tmp_path, checker, photo_payloads, monkeypatch):
    settings, payloads = fault_settings, photo_payloads(5)
    export = Path(payloads[0].media[0].export_root)
    (export / "not-a-dir").write_bytes(b"a file where a folder should be")
    payloads.append(message_event(100, 6, media=[MediaRef(kind="photo", export_root=str(export),
                                                           path="not-a-dir/6.jpg")]).payload)  # ENOTDIR, always
    flaky = {"photos/3.jpg": 2}  # EIO on the first two reads (a flaky disk or network mount)
    original = fetch.store_export_file

    def read(ref: MediaRef, *args):
        if flaky.get(ref.path):
            flaky[ref.path] -= 1
            error = OSError(errno.EIO, "Input/output error", ref.path)
            raise MediaReadError(f"cannot read {ref.path!r}: {error}") from error  # as the reader says it
        return original(ref, *args)

    monkeypatch.setattr(fetch, "store_export_file", read)
    await publish(settings, checker, payloads, source="m3")
    store = settings.media_dir
    seen_partial: list[str] = []

    async def watch_store() -> None:  # every file visible under its content address is whole
        while True:
            for path in store.rglob("*") if store.exists() else ():
                if path.is_file() and not path.name.startswith(".tmp-"):
                    if hashlib.sha256(path.read_bytes()).hexdigest() != path.name:
                        seen_partial.append(path.name)
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch_store())
    try:
        await run_until(settings, db, keys_of(payloads), timeout=30)
    finally:
        watcher.cancel()
    rows = await _media_rows(db)
    assert {i: (r["status"], r["attempts"]) for i, r in rows.items()} == {
        1: ("stored", 1), 2: ("stored", 1), 3: ("stored", 3), 4: ("stored", 1), 5: ("stored", 1),
        6: ("failed", fetch.READ_ATTEMPTS)}
    assert "not-a-dir/6.jpg" in rows[6]["error"] and "Not a directory" in rows[6]["error"]
    assert seen_partial == []
    report = await checker.check(settings, db)
    assert report.problems() == []  # the partition moved on: nothing dead-lettered, nothing stuck


_FULL_DISK = """
import resource, signal, sys
from pathlib import Path
from services.media.store import ContentStore
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # over the limit: EFBIG instead of a signal
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
try:
    ContentStore(Path(sys.argv[1])).put(b"x" * 100_000)
except OSError as exc:
    print(exc.errno)
"""


def test_contract_M4_store_write_failing_midway_leaves_no_file(tmp_path):
    # A real write failure after 4 KiB (a file-size limit, as a full disk would fail it).
    result = subprocess.run([sys.executable, "-c", _FULL_DISK, str(tmp_path / "store")],
                            capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == str(errno.EFBIG), result.stderr
    assert [p for p in (tmp_path / "store").rglob("*") if p.is_file()] == []  # no blob, no temporary
