"""Duplicates and out-of-order versions on the messages topic: the state is the in-order state."""

from __future__ import annotations

import pytest

from schemas import MessageUpserted, encode_event
from tests.factories import T0, message_event
from tests.faults.harness import collector, keys_of, publish, run_until

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


async def test_contract_W5_out_of_order_versions_converge_to_the_in_order_state(fault_settings, db, checker):
    def versions(message_id: int) -> list:
        # Delivered newest edit first, then the original, then an older edit.
        return [message_event(100, message_id, text="edit 2", edited_after_s=20).payload,
                message_event(100, message_id, text="original").payload,
                message_event(100, message_id, text="edit 1", edited_after_s=10).payload]

    # Message 1's versions each in its own batch; message 2's all in one batch.
    await publish(fault_settings, checker, versions(1), source="separate")
    one_by_one = fault_settings.model_copy(update={"writer_batch_max_records": 1})
    await run_until(one_by_one, db, {(100, 1)}, media=False)
    await publish(fault_settings, checker, versions(2), source="together")
    await run_until(fault_settings, db, {(100, 2)}, media=False)

    async with db.acquire() as conn:
        final = {r["message_id"]: (r["text"], r["edit_date"]) for r in await conn.fetch(
            "SELECT message_id, text, edit_date FROM messages")}
    in_order = ("edit 2", T0.replace(second=20))
    assert final == {1: in_order, 2: in_order}
    report = await checker.check(fault_settings, db)
    assert report.problems() == []
