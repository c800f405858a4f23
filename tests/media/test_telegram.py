"""Photos of Telegram messages through the Telegram interface (fake Telegram, real PostgreSQL and store).

The first two cases run the whole pipeline (collector → broker → writer → media service); the others
drive :class:`~services.media.telegram.TelegramPhotos` on committed events directly.
"""

from __future__ import annotations

import dataclasses
import hashlib

from telethon.errors import FloodWaitError
from telethon.tl import types

from schemas import MessageCommitted, MessageUpserted
from tgpipe.telegram.client import channel_peer
from tgpipe.telegram.flood import FloodBudget
from services.collector.telegram.mapping import channel_payload, message_payload
from services.media.pending import plan_media
from services.media.persist import upsert_media
from services.media.store import ContentStore
from services.media.telegram import TelegramPhotos
from services.writer.app import committed_events
from services.writer.persist import write_batch
from tests.support.telegram import FakeTelegram, channel, photo, photo_bytes, post
from tests.support.telegram_pipeline import NEWS, OTHER, pipeline
from tgpipe.ops.verify import verify


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def media_rows(db) -> list[tuple]:
    return [tuple(r) for r in await db.fetch(
        "SELECT message_id, status, sha256, width, attempts, telegram_photo_id FROM media ORDER BY channel_id, 1")]


async def test_expired_file_reference_then_success(settings, db):
    fake = FakeTelegram()
    fake.add_channel(channel(NEWS, "News", "news"), [post(NEWS, 1, "a photo", media=photo(501))])
    fake.expire_reference_at_next_download(501)
    async with pipeline(settings, db, fake) as p:
        await p.backfill(["@news"])
        expected = photo_bytes(501, "y")
        assert await media_rows(db) == [(1, "stored", sha(expected), 1280, 2, 501)]
        assert ContentStore(p.settings.media_dir).path_for(sha(expected)).read_bytes() == expected
        # The message was fetched again right before each download: the second time with a fresh reference.
        assert [c for c in fake.calls if c[0] in ("get_messages", "download")] == [
            ("get_messages", NEWS, [1]), ("download", 501, "y"), ("get_messages", NEWS, [1]), ("download", 501, "y")]
        await p.assert_clean()


async def test_a_photo_whose_largest_size_is_a_video_size(settings, db):
    animated = photo(502, sizes=[types.PhotoStrippedSize("i", b"\x01"), types.PhotoSize("m", 320, 320, 9_000),
                                 types.PhotoSize("x", 800, 800, 60_000)],
                     video_sizes=[types.VideoSize("u", 1080, 1080, 2_000_000)])
    fake = FakeTelegram()
    fake.add_channel(channel(NEWS, "News", "news"), [post(NEWS, 1, media=animated)])
    async with pipeline(settings, db, fake) as p:
        await p.backfill(["@news"])
        assert await media_rows(db) == [(1, "stored", sha(photo_bytes(502, "x")), 800, 1, 502)]
        assert [c for c in fake.calls if c[0] == "download"] == [("download", 502, "x")]
        await p.assert_clean()


async def _committed(db, messages_by_channel) -> list[MessageCommitted]:
    """Write the messages (as the writer would) and return their message.committed events."""
    events = [MessageUpserted(source="test", payload=message_payload(m, channel_payload(peer)))
              for peer, messages in messages_by_channel for m in messages]
    async with db.acquire() as conn:
        return committed_events(await write_batch(conn, events))


async def _process(photos: TelegramPhotos, db, events) -> None:
    """What the media service does with a batch (services.media.app)."""
    async with db.acquire() as conn:
        plan = await plan_media(conn, events)
    rows = await photos.rows(plan.fetch)
    async with db.acquire() as conn:
        await upsert_media(conn, [dataclasses.replace(r, version_sha256=plan.versions[r.channel_id, r.message_id])
                                  for r in rows], plan.relink, plan.supersede)
        assert (await verify(conn)).ok


async def test_dedupe_by_photo_id_and_flood_waits_while_downloading(settings, db):
    shared = photo(700)
    fake = FakeTelegram()
    news = [post(NEWS, 1, media=shared), post(NEWS, 2, media=photo(701)), post(NEWS, 3, media=photo(702))]
    forwarded = [post(OTHER, 9, "forwarded", media=shared)]
    fake.add_channel(channel(NEWS, "News", "news"), news)
    fake.add_channel(channel(OTHER, "Other", "other"), forwarded)
    fake.fail("download", 701, FloodWaitError(request=None, capture=1))
    fake.fail("download", 702, FloodWaitError(request=None, capture=3600))
    events = await _committed(db, [(fake.peer(NEWS), news), (fake.peer(OTHER), forwarded)])
    budget = FloodBudget(3)
    store = ContentStore(settings.media_dir)
    await _process(TelegramPhotos(fake, store, settings, lambda: db, flood=budget), db, events)

    rows = {r[0]: r for r in await media_rows(db)}
    assert rows[1] == (1, "stored", sha(photo_bytes(700, "y")), 1280, 1, 700)
    assert rows[9] == (9, "stored", sha(photo_bytes(700, "y")), 1280, 0, 700)  # same photo id: not downloaded again
    assert rows[2][:2] == (2, "stored") and rows[2][4] == 2  # slept 1 s, then downloaded
    assert rows[3][:2] == (3, "failed") and rows[3][4] == 1
    error = await db.fetchval("SELECT error FROM media WHERE message_id = 3")
    assert "wait 3600 s" in error and "flood-wait budget" in error
    assert [c[1] for c in fake.calls if c[0] == "download"] == [700, 701, 701, 702]
    assert 1 <= budget.spent_s <= 1.2

    # In a later run the photo id is found in the table: still no second download of photo 700.
    fake.calls.clear()
    await _process(TelegramPhotos(fake, store, settings, lambda: db), db, events[:1] + events[3:])
    assert fake.calls == []


async def test_without_a_telegram_client_rows_say_so(settings, db):
    events = await _committed(db, [(channel_peer(channel(NEWS, "News", "news")), [post(NEWS, 1, media=photo(800))])])
    await _process(TelegramPhotos(None, ContentStore(settings.media_dir), settings, lambda: db), db, events)
    status, error = await db.fetchrow("SELECT status, error FROM media")
    assert status == "no_telegram_client" and "TGPIPE_TELEGRAM_SESSION" in error


async def test_transient_errors_back_off_up_to_the_cap_and_a_deleted_message_is_missing(settings, db):
    fake = FakeTelegram()
    messages = [post(NEWS, 1, media=photo(901)), post(NEWS, 2, media=photo(902)), post(NEWS, 3, media=photo(903))]
    fake.add_channel(channel(NEWS, "News", "news"), messages)
    events = await _committed(db, [(fake.peer(NEWS), messages)])
    del fake.history[NEWS][3]  # deleted on Telegram after it was archived
    for _ in range(2):
        fake.fail("download", 901, ConnectionError("connection reset"))
    for _ in range(3):
        fake.fail("download", 902, TimeoutError("no answer"))
    photos = TelegramPhotos(fake, ContentStore(settings.media_dir),
                            settings.model_copy(update={"telegram_media_max_attempts": 3}), lambda: db)
    photos.backoff_initial_s = 0.01
    await _process(photos, db, events)

    rows = {r[0]: r for r in await media_rows(db)}
    assert rows[1][:2] == (1, "stored") and rows[1][4] == 3  # two transient failures, then the bytes
    assert rows[2][:2] == (2, "failed") and rows[2][4] == 3
    assert rows[3][:2] == (3, "missing") and rows[3][4] == 1
    errors = dict(await db.fetch("SELECT message_id, error FROM media WHERE status <> 'stored'"))
    assert errors == {2: "gave up after 3 attempts: TimeoutError: no answer",
                      3: "the message is no longer on Telegram"}
