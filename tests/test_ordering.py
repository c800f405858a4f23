"""The seed bug cannot happen: a photo row is never written before its message is committed.

The writer and the media service run together while events flow. The writer is slowed by an
injected FastStream middleware: before each batch is written, it waits (bounded) until the
media service has processed every message committed so far, then checks that the messages of
the batch about to be written have neither a message row nor a media row. So each check runs
while the media service is caught up and idle, at the last moment before the commit: a media
service that acted on anything but committed events would have written those rows by then, or
had them refused by the foreign key and dead-lettered (none may be).
"""

from __future__ import annotations

from faststream import BaseMiddleware

from schemas import MediaRef, MessageUpserted, decode_event
from services.collector.publish import publish_payloads
from tests.support.factories import message_event
from tgpipe.runtime.inprocess import running_services
from tgpipe.kafka.dead_letters import read_dead_letters
from tgpipe.runtime.progress import PipelineStalled, ProgressTracker

_ROWS_OF = """
SELECT (SELECT count(*) FROM messages JOIN unnest($1::bigint[], $2::bigint[]) AS k (channel_id, message_id)
        USING (channel_id, message_id)),
       (SELECT count(*) FROM media JOIN unnest($1::bigint[], $2::bigint[]) AS k (channel_id, message_id)
        USING (channel_id, message_id))"""


async def test_media_never_precedes_the_commit_of_its_message_while_the_writer_is_slow(settings, db,
                                                                                        tmp_path):
    settings = settings.model_copy(update={"writer_batch_max_records": 5})
    export = tmp_path / "export"
    (export / "photos").mkdir(parents=True)
    payloads = []
    for i in range(1, 41):
        (export / "photos" / f"p{i}.jpg").write_bytes(b"\xff\xd8\xff" + bytes([i]) * 100)
        ref = MediaRef(kind="photo", export_root=str(export), path=f"photos/p{i}.jpg")
        payloads.append(message_event(500 + i % 3, i, text=f"m{i}", media=[ref]).payload)
    tracker = ProgressTracker()
    # (messages in the batch, messages processed before it, their message rows, their media rows)
    checks: list[tuple[int, int, int, int]] = []
    problems: list[str] = []

    class SlowWriter(BaseMiddleware):
        async def on_receive(self) -> None:
            if isinstance(self.msg, tuple):  # a batch of records, before the writer handles it
                events = [decode_event(record.value) for record in self.msg]
                keys = [(e.payload.message.channel_id, e.payload.message.message_id)
                        for e in events if isinstance(e, MessageUpserted)]
                keys = [k for k in keys if k not in tracker.committed]  # not a redelivery
                try:
                    await tracker.wait_until(lambda: tracker.committed <= tracker.processed, stall_timeout=30)
                except PipelineStalled as exc:
                    problems.append(f"the media service did not catch up: {exc}")
                messages, media = await db.fetchrow(_ROWS_OF, [k[0] for k in keys], [k[1] for k in keys])
                checks.append((len(keys), len(tracker.processed), messages, media))
            await super().on_receive()

    slow = {"writer_middleware": lambda _replica: SlowWriter}
    async with running_services(settings, tracker, **slow) as collector:
        await publish_payloads(collector, settings, payloads, source="test")
        await tracker.wait_until(lambda: len(tracker.processed) == 40, stall_timeout=60)

        dead = await read_dead_letters(settings, idle_s=1.0)
    assert dead == []  # a media row tried before its message's commit fails the foreign key: dead-lettered
    assert problems == []
    assert sum(n for n, *_ in checks) == 40 and len(checks) >= 8  # every message checked, batches of <= 5
    assert any(processed > 0 for _, processed, _, _ in checks)  # checked while media had already worked
    assert [c for c in checks if c[2:] != (0, 0)] == []  # neither its message nor its media before the commit
    async with db.acquire() as conn:
        rows = await conn.fetch("""
            SELECT m.status, m.updated_at >= g.archived_at AS after_message
            FROM media m JOIN messages g USING (channel_id, message_id)""")
    assert len(rows) == 40
    assert all(r["status"] == "stored" and r["after_message"] for r in rows)
