"""``verify`` finds each kind of violation it claims to find."""

from __future__ import annotations

import asyncio
import json

from typer.testing import CliRunner

from schemas import MediaRef
from services.writer.persist import write_batch
from tests.support.database import database_url_for, fresh_database
from tests.support.factories import message_event
from tgpipe.cli import app
from tgpipe.db.migrations import upgrade
from tgpipe.ops.verify import ExportCounts, table_digest, verify


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
    assert [row.model_dump() for row in report.export] == [
        {"channel_id": 5, "messages_export": 2, "messages_db": 1, "photos_export": 0, "photos_db": 0}]


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


async def test_verify_on_a_partly_migrated_database_says_not_migrated_until_db_upgrade(postgres_url):
    async with fresh_database(postgres_url, None) as url:
        await asyncio.to_thread(upgrade, url, "0002_telegram")
        env = {"TGPIPE_DATABASE_URL": url}
        before = await asyncio.to_thread(CliRunner().invoke, app, ["verify"], env=env)
        assert before.exit_code == 2
        assert before.output.startswith("invalid configuration: not migrated: run tgpipe db upgrade (the database "
                                        "is at revision 0002_telegram, this tgpipe needs "), before.output
        assert len(before.output.splitlines()) == 1, before.output

        upgraded = await asyncio.to_thread(CliRunner().invoke, app, ["db", "upgrade"], env=env)
        assert upgraded.exit_code == 0, upgraded.output
        after = await asyncio.to_thread(CliRunner().invoke, app, ["verify", "--json"], env=env)
        assert after.exit_code == 0, after.output
        assert json.loads(after.output)["ok"] is True


async def test_verify_accepts_a_database_migrated_by_a_newer_tgpipe(database_url, db):
    async with db.acquire() as conn:
        await conn.execute("UPDATE alembic_version SET version_num = '9999_from_a_newer_tgpipe'")
    result = await asyncio.to_thread(CliRunner().invoke, app, ["verify", "--json"],
                                     env={"TGPIPE_DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output


async def test_db_upgrade_with_a_url_that_cannot_work_says_so_in_one_line(postgres_url):
    url = database_url_for(postgres_url, "tgpipe_no_such_database")
    result = await asyncio.to_thread(CliRunner().invoke, app, ["db", "upgrade"], env={"TGPIPE_DATABASE_URL": url})
    assert result.exit_code == 2
    assert result.output == ('invalid configuration: the database URL cannot work: database "tgpipe_no_such_database" '
                             'does not exist (InvalidCatalogNameError)\n')
