"""End to end on the real exports: collector → broker → writer → PostgreSQL → media, then verify."""

from __future__ import annotations

import hashlib
import json

import pytest

from services.media.store import ContentStore
from tests.support.factories import two_exports
from tests.support.factories import EXPORTS
from tgpipe.ops.archive import archive, expected_counts
from tgpipe.ops.verify import table_digest, verify

pytestmark = pytest.mark.e2e



def _plain_text(text) -> str:
    """Flatten export `text` independently of the collector: a string, or pieces (str | {text})."""
    if isinstance(text, str):
        return text
    out = ""
    for piece in text:
        out += piece if isinstance(piece, str) else piece["text"]
    return out


@pytest.mark.parametrize("name", sorted(EXPORTS))
async def test_archive_real_export(settings, db, shared_data, name):
    export = shared_data / name
    settings = settings.model_copy(update={"export_timezone": EXPORTS[name]})
    raw = json.loads((export / "result.json").read_text(encoding="utf-8"))
    chat_id = raw["id"]

    summary = await archive(settings, export)
    assert summary.published == len(raw["messages"])

    async with db.acquire() as conn:
        rows = {r["message_id"]: r["text"] for r in await conn.fetch(
            "SELECT message_id, text FROM messages WHERE channel_id = $1", chat_id)}
        assert rows == {m["id"]: _plain_text(m.get("text", "")) for m in raw["messages"]}

        media = {r["message_id"]: r for r in await conn.fetch(
            "SELECT message_id, status, sha256 FROM media WHERE channel_id = $1 AND kind = 'photo'", chat_id)}
        photos = {m["id"]: export / m["photo"] for m in raw["messages"] if "photo" in m}
        assert media.keys() == photos.keys()
        store = ContentStore(settings.media_dir)
        for message_id, source in photos.items():
            expected = hashlib.sha256(source.read_bytes()).hexdigest()
            assert media[message_id]["status"] == "stored", message_id
            assert media[message_id]["sha256"] == expected, message_id
            assert hashlib.sha256(store.path_for(expected).read_bytes()).hexdigest() == expected

        report = await verify(conn, expected_counts(export, settings))
        assert report.ok, report.as_dict()
        first = await table_digest(conn)

    await archive(settings, export)
    async with db.acquire() as conn:
        assert await table_digest(conn) == first


async def test_re_archiving_an_older_export_finishes_and_changes_nothing(settings, db, tmp_path):
    """The older export's versions all lose (contract O1): no committed event is published for
    them, and ``archive`` must still see every message through instead of stalling."""
    newer, older = two_exports(tmp_path)
    await archive(settings, newer)
    async with db.acquire() as conn:
        first = await table_digest(conn)
    summary = await archive(settings, older, stall_timeout=20)
    assert summary.published == 1
    async with db.acquire() as conn:
        assert await table_digest(conn) == first
