"""End to end on the real exports: collector → broker → writer → PostgreSQL → media, then verify."""

from __future__ import annotations

import hashlib
import json

import pytest

from services.media.store import ContentStore
from tests.support.factories import two_exports
from tests.support.factories import EXPORTS
from datetime import UTC, datetime

from tgpipe.db.coverage import chat_coverage
from tgpipe.ops.archive import archive
from tgpipe.ops.exports import expected_counts
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
        after = await table_digest(conn)
        # The older export is one more source of post 1 (its own ledger row); nothing else changes.
        assert {k: v for k, v in after.items() if k not in ("coverage", "all")} == {
            k: v for k, v in first.items() if k not in ("coverage", "all")}
        assert (await chat_coverage(conn, 9)).ids == [(1, 2)]
        assert after["coverage"]["rows"] == first["coverage"]["rows"] + 1


async def test_contract_C1_archive_records_the_exports_first_to_last_message(settings, db, shared_data):
    """Independent of the collector: the first and last entry of trantor's result.json (id and
    ``date_unixtime``); archiving it again adds no ledger row (the same marker)."""
    export = shared_data / "trantor-library-channel"
    raw = json.loads((export / "result.json").read_text(encoding="utf-8"))
    ids = sorted(m["id"] for m in raw["messages"])
    dates = sorted(datetime.fromtimestamp(int(m["date_unixtime"]), UTC) for m in raw["messages"])

    summary = await archive(settings, export)
    assert [(c.channel.channel_id, c.first_message_id, c.last_message_id) for c in summary.coverage] == [
        (raw["id"], ids[0], ids[-1])]
    async with db.acquire() as conn:
        coverage = await chat_coverage(conn, raw["id"])
        assert coverage.ids == [(ids[0], ids[-1])]
        assert coverage.dates == [(dates[0], dates[-1])]
        assert [r.source for r in coverage.ranges] == ["export"]
        first = await table_digest(conn, include_volatile=True)
    await archive(settings, export)
    async with db.acquire() as conn:
        assert (await table_digest(conn, include_volatile=True))["coverage"] == first["coverage"]
