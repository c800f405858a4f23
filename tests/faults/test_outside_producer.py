"""Hostile records from a producer that is not tgpipe's, against the deployed writer and media service.

The records are produced by librdkafka (the C client, through ``confluent-kafka``: no tgpipe code and
no Python Kafka protocol code on the producing side; Debian's ``kcat`` links librdkafka 2.0, which
cannot parse Tansu's ApiVersions v3 answer), keyed by chat with the documented partitioner
(``murmur2_random``, as the Java client), straight onto the messages topic
that a running ``tgpipe writer`` and ``tgpipe media`` (real processes, configured by ``TGPIPE_*``
variables only) consume. One chat receives, in this order:

1. references to files outside every allowed export root (``/etc`` + ``passwd``, ``/root`` +
   ``.bashrc``, ``/etc`` + ``shadow`` as a document, which is downloaded here);
2. a symlink inside the allowed root that points at ``/etc/passwd``, and a FIFO inside it;
3. a message with two photos (the media table holds one per kind: the record is the poison);
4. a good photo message after all of them.

Outcome: nothing of the host's files reaches the database, the services' logs or the content
store; the poison record alone is dead-lettered; the later photo is stored; both services keep
running.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path

import pytest

from tests.support.broker import produce_with_librdkafka
from tests.support.processes import service_process
from tests.support.waiting import eventually
from tgpipe.db import create_pool
from tgpipe.kafka.dead_letters import read_dead_letters
from tgpipe.settings import Settings

pytestmark = pytest.mark.faults

CHAT = 4242
#: Host files a hostile record names, and the kind each is asked for as.
HOSTILE = [(1, "/etc", "passwd", "photo"), (2, "/root", ".bashrc", "document"), (3, "/etc", "shadow", "document")]
SYMLINK, FIFO, DUPLICATE, GOOD = 4, 5, 10, 11


def _upserted(message_id: int, media: list[dict]) -> bytes:
    """A ``message.upserted`` record value written by hand, as an outside producer would."""
    event = {
        "event_id": str(uuid.uuid4()), "schema_version": 1, "type": "message.upserted", "source": "outside-librdkafka",
        "time": "2026-12-01T10:00:00+00:00", "seq": None,
        "payload": {
            "channel": {"channel_id": CHAT, "type": "public_channel", "title": "outside"},
            "message": {"channel_id": CHAT, "message_id": message_id, "kind": "message",
                        "date": "2024-05-01T12:00:00+00:00", "text": f"message {message_id}",
                        "raw": {"id": message_id}, "media_kind": media[0]["kind"] if media else None},
            "media": media,
        },
    }
    return json.dumps(event, separators=(",", ":")).encode()


def _ref(kind: str, export_root: str | Path, path: str) -> dict:
    return {"kind": kind, "source": "export", "export_root": str(export_root), "path": path}


def _secret_lines() -> dict[str, str]:
    """A distinctive line of each host file the records name (what must never leak)."""
    secrets = {}
    for _, root, name, _ in HOSTILE:
        lines = [line for line in Path(root, name).read_text(errors="replace").splitlines() if len(line) > 8]
        secrets[f"{root}/{name}"] = lines[0]
    return secrets


async def test_hostile_records_from_an_outside_producer_leave_no_trace(
        settings: Settings, shared_data: Path, tmp_path: Path) -> None:
    secrets = _secret_lines()
    exports = tmp_path / "exports"
    export = exports / "ok"
    (export / "photos").mkdir(parents=True)
    good_photo = next(iter(sorted((shared_data / "trantor-library-channel" / "photos").glob("*.jpg"))))
    shutil.copyfile(good_photo, export / "photos" / "good.jpg")
    (export / "photos" / "link.jpg").symlink_to("/etc/passwd")
    os.mkfifo(export / "photos" / "fifo.jpg")
    good_sha = hashlib.sha256((export / "photos" / "good.jpg").read_bytes()).hexdigest()

    duplicate = _upserted(DUPLICATE, [_ref("photo", export, "photos/good.jpg")] * 2)
    records = [_upserted(i, [_ref(kind, root, name)]) for i, root, name, kind in HOSTILE]
    records += [_upserted(SYMLINK, [_ref("photo", export, "photos/link.jpg")]),
                _upserted(FIFO, [_ref("photo", export, "photos/fifo.jpg")]),
                duplicate,
                _upserted(GOOD, [_ref("photo", export, "photos/good.jpg")])]
    env = {"TGPIPE_MEDIA_EXPORT_ROOTS": json.dumps([str(exports)]),
           "TGPIPE_MEDIA_DOWNLOAD_KINDS": json.dumps(["photo", "document"])}

    async with service_process(settings, tmp_path / "writer.log", "writer", extra_env=env) as writer, \
            service_process(settings, tmp_path / "media.log", "media", extra_env=env) as media:
        await asyncio.to_thread(produce_with_librdkafka, settings.kafka_bootstrap_servers, settings.topic_messages,
                                [(str(CHAT).encode(), value) for value in records])
        pool = await create_pool(settings.database_url)
        try:
            async def good_stored() -> bool:
                return await pool.fetchval("SELECT status FROM media WHERE message_id = $1", GOOD) == "stored"

            await eventually(good_stored, 120, "the photo after the hostile records stored")
            media_rows = {r["message_id"]: r for r in await pool.fetch("SELECT * FROM media WHERE channel_id = $1",
                                                                       CHAT)}
            messages = {r["message_id"] for r in await pool.fetch("SELECT message_id FROM messages")}
            dumps = [await pool.fetchval(f"SELECT coalesce(string_agg(t::text, E'\\n'), '') FROM {table} t")
                     for table in ("messages", "message_versions", "media", "channels", "senders")]
        finally:
            await pool.close()
        letters = await read_dead_letters(settings, idle_s=2.0)
        assert writer.process.returncode is None, writer.log()[-3000:]
        assert media.process.returncode is None, media.log()[-3000:]
        logs = writer.log() + media.log()

    # The poison record alone is dead-lettered, unchanged, for its own reason; the rest is written.
    assert [(d.key, d.value, d.header("tgpipe-error-class")) for d in letters] == \
        [(str(CHAT).encode(), duplicate, "EventSchemaError")]
    assert messages == {1, 2, 3, SYMLINK, FIFO, GOOD}
    # Refused references: the check that failed, and nothing about the file.
    assert {i: media_rows[i]["status"] for i in (1, 2, 3, SYMLINK, FIFO)} == {
        1: "export_root_not_allowed", 2: "export_root_not_allowed", 3: "export_root_not_allowed",
        SYMLINK: "outside_export_root", FIFO: "not_regular_file"}
    for i in (1, 2, 3, SYMLINK, FIFO):
        assert media_rows[i]["size_bytes"] is None and media_rows[i]["sha256"] is None, dict(media_rows[i])
    assert (media_rows[GOOD]["status"], media_rows[GOOD]["sha256"]) == ("stored", good_sha)
    # No trace of the host's files anywhere: database, logs, content store.
    for where, text in (("the database", "\n".join(dumps)), ("the logs", logs)):
        leaked = [name for name, line in secrets.items() if line in text]
        assert not leaked, f"content of {leaked} found in {where}"
    stored = sorted(p for p in settings.media_dir.rglob("*") if p.is_file())
    assert [p.name for p in stored] == [good_sha], stored
