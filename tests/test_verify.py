"""``verify`` finds each kind of violation it claims to find."""

from __future__ import annotations

from schemas import MediaRef
from services.writer.persist import write_batch
from tests.factories import message_event
from tgpipe.verify import ExportCounts, table_digest, verify


async def test_photo_message_without_media_row_is_a_violation(db):
    photo = MediaRef(kind="photo", export_root="/x", path="photos/1.jpg")
    async with db.acquire() as conn:
        await write_batch(conn, [message_event(5, 1, media=[photo]), message_event(5, 2)])
        report = await verify(conn)
        assert report.checks["photo_messages_without_media_row"] == 1
        assert not report.ok
        await conn.execute("INSERT INTO media (channel_id, message_id, kind, status, version_sha256) "
                           "SELECT 5, 1, 'photo', 'missing', version_sha256 FROM messages WHERE message_id = 1")
        assert (await verify(conn)).ok


async def test_export_count_mismatch_is_a_violation(db):
    async with db.acquire() as conn:
        await write_batch(conn, [message_event(5, 1)])
        expected = ExportCounts()
        expected.messages[5] = 2
        report = await verify(conn, expected)
    assert not report.ok
    assert report.export == [{"channel_id": 5, "messages_export": 2, "messages_db": 1, "photos_export": 0,
                              "photos_db": 0}]


async def test_digest_ignores_volatile_columns_only(db):
    async with db.acquire() as conn:
        await write_batch(conn, [message_event(5, 1, text="a")])
        before = await table_digest(conn)
        await conn.execute("UPDATE messages SET archived_at = now() + interval '1 day', "
                           "source_event_id = gen_random_uuid()")
        assert await table_digest(conn) == before
        await conn.execute("UPDATE messages SET text = 'b'")
        after = await table_digest(conn)
    assert after["messages"] != before["messages"]
    assert after["channels"] == before["channels"]
