"""The seed bug cannot happen: a photo row is never written before its message is committed."""

from __future__ import annotations

import asyncio

from schemas import MediaRef
from services.collector.publish import publish_payloads
from tests.factories import message_event
from tgpipe.archive import running_services
from tgpipe.progress import ProgressTracker


async def test_media_first_and_slow_writer_never_orphans_a_photo(settings, db, tmp_path):
    export = tmp_path / "export"
    (export / "photos").mkdir(parents=True)
    payloads = []
    for i in range(1, 41):
        (export / "photos" / f"p{i}.jpg").write_bytes(b"\xff\xd8\xff" + bytes([i]) * 100)
        ref = MediaRef(kind="photo", export_root=str(export), path=f"photos/p{i}.jpg")
        payloads.append(message_event(500 + i % 3, i, text=f"m{i}", media=[ref]).payload)

    media_tracker = ProgressTracker()
    async with running_services(settings, media_tracker, writer=False) as collector:
        # Only the media service runs; every message event is already on the topic.
        await publish_payloads(collector, settings, payloads, source="test")
        await asyncio.sleep(3)
        async with db.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM media") == 0
            assert await conn.fetchval("SELECT count(*) FROM messages") == 0

        # Now the (late) writer joins; media may only follow its commits.
        writer_tracker = ProgressTracker()
        async with running_services(settings, writer_tracker, media=False):
            await writer_tracker.wait_until(lambda: len(writer_tracker.committed) == 40, stall_timeout=60)
        await media_tracker.wait_until(lambda: len(media_tracker.processed) == 40, stall_timeout=60)

    async with db.acquire() as conn:
        rows = await conn.fetch("""
            SELECT m.status, m.updated_at >= g.archived_at AS after_message
            FROM media m JOIN messages g USING (channel_id, message_id)""")
    assert len(rows) == 40
    assert all(r["status"] == "stored" and r["after_message"] for r in rows)
