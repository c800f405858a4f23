"""Hostile media references from outside, against the deployed services.

librdkafka (the C client, through confluent-kafka: not tgpipe's collector, not a Python Kafka
client) produces the media corpus's records to the messages topic while ``tgpipe writer`` and ``tgpipe media`` run as processes
configured only by ``TGPIPE_*`` variables (JSON logs at DEBUG level, the corpus's allowed root).
Afterwards: every hostile reference has its refusal status, the chats' good photos are stored,
and no trace of a refused file is in the database, in either service's output or in the content
store. (Debian's ``kcat`` links librdkafka 2.0.2, which cannot talk to the local Tansu broker: its
ApiVersions exchange fails with "Read underflow"; the confluent-kafka wheel's librdkafka can.)
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path


from schemas import MediaKind, encode_event
from tests.bad_input.media_cases import MARKERS, MEDIA_CASES, MediaLayout
from tests.support.factories import message_event
from tests.support.broker import produce_with_librdkafka
from tests.support.processes import service_process
from tests.support.waiting import eventually

CHAT_BASE = 9500


async def test_contract_M5_records_from_another_producer_leave_no_trace_in_the_deployed_services(settings, db,
                                                                                                 tmp_path):
    layout = MediaLayout.create(tmp_path / "corpus")
    settings = settings.model_copy(update={
        "media_export_roots": (layout.allowed.resolve(),),
        "media_download_kinds": frozenset({MediaKind.PHOTO, MediaKind.DOCUMENT}),
        "log_format": "json", "log_level": "DEBUG"})
    records = []
    for i, case in enumerate(MEDIA_CASES):
        chat = CHAT_BASE + i
        for event in (message_event(chat, 1, media=[case.ref(layout)]),
                      message_event(chat, 2, media=[layout.good_photo(chat)])):
            records.append((event.key, encode_event(event)))
    async with service_process(settings, tmp_path / "writer.log") as writer, \
            service_process(settings, tmp_path / "media.log", command="media") as media:
        await asyncio.to_thread(produce_with_librdkafka, settings.kafka_bootstrap_servers, settings.topic_messages,
                                records)

        async def all_media_rows() -> bool:
            return await db.fetchval("SELECT count(*) FROM media") == len(records)

        await eventually(all_media_rows, 90, f"{len(records)} media rows")
        logs = writer.log() + media.log()
    rows = {(r["channel_id"], r["message_id"]): r for r in await db.fetch("SELECT * FROM media")}
    for i, case in enumerate(MEDIA_CASES):
        bad, good = rows[CHAT_BASE + i, 1], rows[CHAT_BASE + i, 2]
        assert (case.id, bad["status"]) == (case.id, case.status)
        assert (bad["size_bytes"], bad["sha256"]) == (None, None)
        assert good["status"] == "stored"
    table = "\n".join(r[0] for r in await db.fetch("SELECT m::text FROM media m"))
    passwd = Path("/etc/passwd").read_text().splitlines()[0]
    assert "DEBUG" in logs and "9500" in logs  # verbose logs, naming the events they processed
    for text in (table, logs):
        assert not [m for m in (*MARKERS, passwd) if m in text]
    stored = {p.name: p.read_bytes() for p in settings.media_dir.rglob("*") if p.is_file()}
    assert set(stored) == {r["sha256"] for r in rows.values() if r["status"] == "stored"}
    assert all(hashlib.sha256(data).hexdigest() == name for name, data in stored.items())
