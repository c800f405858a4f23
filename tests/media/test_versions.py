"""Media follow each message's current version (contract O1), against a real PostgreSQL and a real
content store: the writer's committed events go through the media service's plan, fetch and write
steps, as ``services.media.app`` runs them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from schemas import MediaRef, MessageCommitted
from services.media.fetch import fetch_rows
from services.media.pending import plan_media
from services.media.persist import upsert_media
from services.media.store import ContentStore
from services.writer.app import committed_events
from services.writer.persist import write_batch
from tests.support.factories import message_event
from tgpipe.errors import UnknownMessageError
from tgpipe.settings import Settings
from tgpipe.ops.verify import verify


@pytest.fixture
def export(tmp_path: Path) -> Path:
    root = tmp_path / "export"
    (root / "photos").mkdir(parents=True)
    for name in ("p1", "p2"):
        (root / "photos" / f"{name}.jpg").write_bytes(b"\xff\xd8\xff" + name.encode() * 100)
    return root


def version(export: Path, *, photo: str | None, edited_after_s: int | None = None, text: str = "t"):
    media = [MediaRef(kind="photo", export_root=str(export), path=f"photos/{photo}.jpg")] if photo else None
    return message_event(5, 1, text=text, edited_after_s=edited_after_s, media=media)


async def media_step(conn, events: list[MessageCommitted], store: ContentStore, reads: list[str]) -> None:
    """What ``services.media.app`` does with one batch of committed events; ``reads`` gets the
    path of every reference it fetched."""
    plan = await plan_media(conn, events)
    reads += [ref.path for e in plan.fetch for ref in e.payload.media]
    # These tests are about versions: the test's own export folders are the allowed roots (the root
    # check itself is contract M5's).
    roots = tuple({Path(ref.export_root) for e in plan.fetch for ref in e.payload.media if ref.export_root})
    rows = fetch_rows(plan.fetch, store, Settings(media_export_roots=roots, media_download_kinds={"photo"}))
    rows = [dataclasses.replace(r, version_sha256=plan.versions[r.channel_id, r.message_id]) for r in rows]
    await upsert_media(conn, rows, plan.relink, plan.supersede)


async def _photo_row(conn):
    return await conn.fetchrow("SELECT status, source_path, version_sha256, attempts FROM media "
                               "WHERE channel_id = 5 AND message_id = 1 AND kind = 'photo'")


async def test_contract_O1_an_edit_replacing_the_photo_gets_the_new_one_fetched(db, export, tmp_path):
    store, reads = ContentStore(tmp_path / "store"), []
    async with db.acquire() as conn:
        for event in (version(export, photo="p1"), version(export, photo="p2", edited_after_s=10)):
            await media_step(conn, committed_events(await write_batch(conn, [event])), store, reads)
        row = await _photo_row(conn)
        current = await conn.fetchval("SELECT version_sha256 FROM messages")
        assert (await verify(conn)).ok
    assert reads == ["photos/p1.jpg", "photos/p2.jpg"]
    assert (row["status"], row["source_path"], row["version_sha256"], row["attempts"]) == (
        "stored", "photos/p2.jpg", current, 1)


async def test_contract_O1_a_committed_event_of_a_superseded_version_fetches_nothing(db, export, tmp_path):
    store, reads = ContentStore(tmp_path / "store"), []
    old, new = version(export, photo="p1"), version(export, photo="p2", edited_after_s=10)
    async with db.acquire() as conn:
        stale = committed_events(await write_batch(conn, [old]))
        fresh = committed_events(await write_batch(conn, [new]))
        assert committed_events(await write_batch(conn, [old])) == []  # refused by the order: not announced
        await media_step(conn, stale, store, reads)  # arrives late
        assert reads == [] and await _photo_row(conn) is None
        await media_step(conn, fresh + stale, store, reads)
        assert (await _photo_row(conn))["source_path"] == "photos/p2.jpg"
    assert reads == ["photos/p2.jpg"]


async def test_contract_O1_a_removed_photo_is_superseded_and_a_reactions_change_fetches_nothing(
        db, export, tmp_path):
    store, reads = ContentStore(tmp_path / "store"), []
    async with db.acquire() as conn:
        await media_step(conn, committed_events(await write_batch(conn, [version(export, photo="p1")])), store, reads)
        # Same photo, another version (text edited): relinked, not read again.
        await media_step(conn, committed_events(await write_batch(
            conn, [version(export, photo="p1", edited_after_s=5, text="t2")])), store, reads)
        relinked = await _photo_row(conn)
        assert relinked["version_sha256"] == await conn.fetchval("SELECT version_sha256 FROM messages")
        assert (await verify(conn)).ok
        # The photo removed by an edit: the row stays, superseded, with its file.
        await media_step(conn, committed_events(await write_batch(
            conn, [version(export, photo=None, edited_after_s=10)])), store, reads)
        superseded = await conn.fetchrow("SELECT status, sha256, version_sha256 FROM media")
        assert (await verify(conn)).ok
    assert reads == ["photos/p1.jpg"]
    assert superseded["status"] == "superseded" and superseded["version_sha256"] == relinked["version_sha256"]
    assert store.path_for(superseded["sha256"]).is_file()


async def test_contract_M1_committed_event_for_an_unknown_message_reads_and_stores_nothing(db, export, tmp_path):
    store, reads = ContentStore(tmp_path / "store"), []
    forged = committed_events([version(export, photo="p1")])  # never written
    async with db.acquire() as conn:
        with pytest.raises(UnknownMessageError, match="message 1 of chat 5"):
            await media_step(conn, forged, store, reads)
        assert await conn.fetchval("SELECT count(*) FROM media") == 0
    assert reads == [] and not [p for p in tmp_path.joinpath("store").rglob("*") if p.is_file()]


async def test_verify_finds_media_of_another_version(db, export, tmp_path):
    store, reads = ContentStore(tmp_path / "store"), []
    async with db.acquire() as conn:
        await media_step(conn, committed_events(await write_batch(conn, [version(export, photo="p1")])), store, reads)
        await write_batch(conn, [version(export, photo="p2", edited_after_s=10)])  # media service not yet run
        assert (await verify(conn)).checks["media_not_of_current_version"] == 1
