"""Hostile media references through the running services: broker → writer → PostgreSQL → media service.

Every case of :data:`~tests.bad_input.media_cases.MEDIA_CASES` gets a chat of its own holding the
hostile reference (message 1) and then a good photo (message 2); both are produced as
``message.upserted`` records straight to the messages topic (another producer than tgpipe's
collector), all at once, to a running writer and media service whose only allowed export root is
the corpus's. Each hostile reference must get its status, the good photo after it must be stored,
and nothing of any refused file may reach the database, the logs (every level, every logger) or
the content store, whose files must be exactly the good photos.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import pytest

from schemas import MediaKind, encode_event
from tests.bad_input.media_cases import MARKERS, MEDIA_CASES, MediaCase, MediaLayout
from tests.support.broker import topic_settings
from tests.support.database import fresh_database
from tests.support.factories import message_event
from tgpipe.runtime.inprocess import running_services
from tgpipe.db import create_pool
from tgpipe.kafka.dead_letters import read_dead_letters
from tgpipe.runtime.progress import ProgressTracker

CHAT_BASE = 9000


@dataclass
class MediaRun:
    layout: MediaLayout
    rows: dict[tuple[int, int], dict]  # (chat, message) -> media row
    table_text: str  # every media row as PostgreSQL prints it
    logs: str  # every log record of the run, formatted
    stored: dict[str, bytes]  # content store: file name -> bytes (temporary files included)
    dead_letters: int


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record) + repr(record.__dict__))


@pytest.fixture(scope="module")
async def media_run(postgres_url, template_database, kafka, tmp_path_factory) -> MediaRun:
    base = tmp_path_factory.mktemp("media-corpus")
    layout = MediaLayout.create(base)
    capture, root_logger = _Capture(), logging.getLogger()
    previous_level = root_logger.level
    root_logger.addHandler(capture)
    root_logger.setLevel(logging.DEBUG)
    try:
        async with fresh_database(postgres_url, template_database) as url, \
                topic_settings(url, kafka, base) as base_settings:
            settings = base_settings.model_copy(update={
                "media_export_roots": (layout.allowed.resolve(),),
                "media_download_kinds": frozenset({MediaKind.PHOTO, MediaKind.DOCUMENT})})
            events = []
            for i, case in enumerate(MEDIA_CASES):
                chat = CHAT_BASE + i
                events += [message_event(chat, 1, media=[case.ref(layout)]),
                           message_event(chat, 2, media=[layout.good_photo(chat)])]
            tracker = ProgressTracker()
            async with running_services(settings, tracker) as producer:
                for event in events:
                    await producer.publish(encode_event(event), topic=settings.topic_messages, key=event.key)
                await tracker.wait_until(lambda: len(tracker.processed) == len(events), stall_timeout=90)
            dead_letters = len(await read_dead_letters(settings, idle_s=1.0))
            pool = await create_pool(url)
            try:
                rows = {(r["channel_id"], r["message_id"]): dict(r)
                        for r in await pool.fetch("SELECT * FROM media")}
                table_text = "\n".join(r[0] for r in await pool.fetch("SELECT m::text FROM media m"))
            finally:
                await pool.close()
    finally:
        root_logger.removeHandler(capture)
        root_logger.setLevel(previous_level)
    store = settings.media_dir
    stored = {p.name: p.read_bytes() for p in store.rglob("*") if p.is_file()} if store.exists() else {}
    return MediaRun(layout, rows, table_text, "\n".join(capture.lines), stored, dead_letters)


@pytest.mark.parametrize("index, case", list(enumerate(MEDIA_CASES)), ids=[c.id for c in MEDIA_CASES])
def test_media_case(media_run: MediaRun, index: int, case: MediaCase):
    chat = CHAT_BASE + index
    row = media_run.rows[chat, 1]
    assert row["status"] == case.status, row
    assert (row["sha256"], row["size_bytes"]) == (None, None)
    assert row["error"] and not any(marker in row["error"] for marker in MARKERS), row["error"]
    assert media_run.rows[chat, 2]["status"] == "stored"  # the chat's later photo is stored


def test_contract_M5_hostile_records_leave_no_trace_through_the_running_services(media_run: MediaRun):
    assert media_run.dead_letters == 0  # refusals are media rows, not poison records
    assert len(media_run.rows) == 2 * len(MEDIA_CASES)
    host_files = [Path("/etc/passwd").read_text().splitlines()[0]]  # e.g. "root:x:0:0:root:/root:/bin/bash"
    for text in (media_run.table_text, media_run.logs):
        assert not [m for m in (*MARKERS, *host_files) if m in text]
    good = {r["sha256"] for r in media_run.rows.values() if r["status"] == "stored"}
    assert len(good) == len(MEDIA_CASES)
    assert set(media_run.stored) == good  # no orphan blob, no temporary file, no host file
    assert all(hashlib.sha256(data).hexdigest() == name for name, data in media_run.stored.items())


def test_media_corpus_covers_every_refusal():
    assert {c.status for c in MEDIA_CASES} == {"export_root_not_allowed", "outside_export_root",
                                               "not_regular_file", "too_large", "not_image"}
    assert len({c.id for c in MEDIA_CASES}) == len(MEDIA_CASES)
