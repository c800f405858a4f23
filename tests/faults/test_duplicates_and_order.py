"""Duplicates and out-of-order versions on the messages topic: the state is the in-order state."""

from __future__ import annotations

import pytest

from collections import Counter
from datetime import timedelta

from schemas import MessageUpserted, encode_event
from tests.support.factories import T0, message_event
from tests.faults.harness import keys_of, publish, run_until
from tests.support.broker import collector
from tests.support.waiting import eventually
from tgpipe.runtime.inprocess import running_services
from tgpipe.runtime.progress import ProgressTracker
from tgpipe.db import TEXT_VERSIONS
from tgpipe.ops.verify import verify

pytestmark = pytest.mark.faults


async def test_contract_W4_duplicates_leave_one_row_and_one_download(
        fault_settings, db, checker, photo_payloads, media_reads):
    payloads = photo_payloads(3)
    # Each message three times: an event, the exact same record again, and the same logical
    # event with a new event id (e.g. a collector run again).
    events = [MessageUpserted(source="w4", seq=i, payload=p) for i, p in enumerate(payloads)]
    again = [MessageUpserted(source="w4-again", seq=i, payload=p) for i, p in enumerate(payloads)]
    async with collector(fault_settings) as broker:
        for event in [*events, *events, *again]:
            await broker.publish(encode_event(event), topic=fault_settings.topic_messages, key=event.key)
    checker.on_published(events + again)

    # One record per writer batch, so copies commit and emit on their own; then the media service
    # gets the repeated committed events together.
    one_by_one = fault_settings.model_copy(update={"writer_batch_max_records": 1})
    await run_until(one_by_one, db, keys_of(payloads), media=False)
    await run_until(fault_settings, db, keys_of(payloads))

    async with db.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM messages") == 3
        assert await conn.fetchval("SELECT count(*) FROM media WHERE status = 'stored' AND attempts = 1") == 3
    assert media_reads == {f"photos/{i}.jpg": 1 for i in (1, 2, 3)}
    report = await checker.check(fault_settings, db)
    assert report.problems(allow_committed_duplicates=True) == []
    assert len(report.committed) > 3  # events are at-least-once: the media service saw repeats


async def test_contract_W5_out_of_order_versions_converge_to_the_in_order_state(
        fault_settings, db, checker, photo_payloads):
    """Three versions of a message, each with its photo and its chat title as observed then, and a
    reactions-only update observed before the newest edit: delivered in order (message 3, one per
    batch), newest first (message 1, one per batch) and all in one batch (message 2). Every
    message ends as the newest edit with its photo fetched; the title is the newest observation's;
    the versions table holds the three texts; committed events were published only for versions
    that were the stored one when written (message 1 and 2: one each, the newest)."""
    settings = fault_settings
    photos = {p.message.message_id: p.media for p in photo_payloads(2)}  # photos/1.jpg, photos/2.jpg

    def at(payload, observed_s: int):
        return payload.model_copy(update={"observed_at": T0 + timedelta(seconds=observed_s)})

    def versions(message_id: int) -> list:
        original = message_event(100, message_id, text="original", media=photos[1], title="T0").payload
        edit_1 = message_event(100, message_id, text="edit 1", edited_after_s=10, media=photos[1], title="T1").payload
        edit_2 = message_event(100, message_id, text="edit 2", edited_after_s=20, media=photos[2], title="T2").payload
        earlier_2 = edit_2.model_copy(update={"message": edit_2.message.model_copy(update={"reactions": [
            {"type": "emoji", "emoji": "👍", "count": 1}]})})
        return [at(original, 5), at(edit_1, 15), at(earlier_2, 21), at(edit_2, 30 + message_id)]

    one_by_one = settings.model_copy(update={"writer_batch_max_records": 1})
    in_order, newest_first = versions(3), versions(1)
    await publish(settings, checker, in_order, source="in-order")
    await _run_until_current(one_by_one, db, {(100, 3)})
    await publish(settings, checker, [newest_first[i] for i in (3, 0, 2, 1)], source="newest-first")
    await _run_until_current(one_by_one, db, {(100, 1)})
    await publish(settings, checker, [versions(2)[i] for i in (2, 3, 0, 1)], source="together")
    await _run_until_current(settings, db, {(100, 2)})

    async with db.acquire() as conn:
        final = {r["message_id"]: tuple(r)[1:] for r in await conn.fetch(
            "SELECT g.message_id, g.text, g.edit_date, g.reactions, m.status, m.source_path FROM messages g "
            "JOIN media m USING (channel_id, message_id) ORDER BY 1")}
        title = await conn.fetchval("SELECT title FROM channels WHERE channel_id = 100")
        texts = {r["message_id"]: r["texts"] for r in await conn.fetch(
            f"SELECT message_id, array_agg(text ORDER BY valid_from) AS texts FROM {TEXT_VERSIONS} AS v GROUP BY 1")}
        assert (await verify(conn)).ok
    newest = ("edit 2", T0 + timedelta(seconds=20), None, "stored", "photos/2.jpg")
    assert final == {1: newest, 2: newest, 3: newest}
    assert title == "T2"
    assert texts == {i: ["original", "edit 1", "edit 2"] for i in (1, 2, 3)}
    report = await checker.check(settings, db)
    assert report.problems() == []
    announced = Counter(e.payload.message_id for e in report.committed)
    assert announced == {3: 4, 1: 1, 2: 1}  # in order, each of message 3's four versions won when written
    stored_versions = {e.payload.message_id: e.payload.version_sha256 for e in report.committed}
    async with db.acquire() as conn:
        assert stored_versions == dict(await conn.fetch("SELECT message_id, version_sha256 FROM messages"))


async def _run_until_current(settings, db, keys) -> None:
    """Run writer and media service until each message of ``keys`` has a media row of its current
    version (a stale photo row does not count)."""
    async def caught_up() -> bool:
        async with db.acquire() as conn:
            return await conn.fetchval(
                "SELECT count(*) FROM messages g JOIN media m USING (channel_id, message_id) "
                "JOIN unnest($1::bigint[], $2::bigint[]) AS k (channel_id, message_id) USING (channel_id, message_id) "
                "WHERE m.status = 'stored' AND m.version_sha256 = g.version_sha256",
                [k[0] for k in keys], [k[1] for k in keys]) == len(keys)

    async with running_services(settings, ProgressTracker()):
        await eventually(caught_up, 60, f"{sorted(keys)} with the media of their current version")
