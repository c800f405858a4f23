"""``tgpipe status`` against a pipeline that ran: the real writer and media service, broker and PostgreSQL."""

from __future__ import annotations

import asyncio
import json

from typer.testing import CliRunner

from schemas import MediaRef, DeletedPayload, MessageDeleted, encode_event
from tests.support.factories import T0, message_event, range_marker
from tests.support.waiting import eventually
from tests.support.env import settings_env as _env
from tgpipe.runtime.inprocess import running_services
from tgpipe.runtime.progress import ProgressTracker
from tgpipe.cli import app
from tgpipe.ops.status import TANSU_NOTE


async def test_status_counts_chats_media_lag_and_dead_letters(settings, db, kafka, tmp_path):
    export = tmp_path / "export"
    (export / "p").mkdir(parents=True)
    (export / "p" / "a.jpg").write_bytes(b"\xff\xd8\xff" + b"j" * 100)
    events = [message_event(100, 1, media=[MediaRef(kind="photo", export_root=str(export), path="p/a.jpg")]),
              message_event(100, 2, media=[MediaRef(kind="photo", export_root=str(export), path="p/none.jpg")]),
              message_event(100, 3, title="hundred"),
              message_event(200, 1, title="two hundred")]
    deletion = MessageDeleted(source="test", payload=DeletedPayload(
        channel_id=100, message_ids=[3], deleted_at=T0, detected_by="live"))
    marker = range_marker(100, 1, 3, title="hundred")
    async with running_services(settings, ProgressTracker()) as broker:
        for event in [*events, deletion, marker]:
            await broker.publish(encode_event(event), topic=settings.topic_messages, key=event.key)
        await broker.publish(b"not json", topic=settings.topic_messages, key=b"100")

        async def done() -> bool:
            return (await db.fetchval("SELECT count(*) FROM media") == 2
                    and await db.fetchval("SELECT count(*) FROM messages WHERE deleted_at IS NOT NULL") == 1
                    and await db.fetchval("SELECT count(*) FROM coverage") == 1)
        await eventually(done, 60, "messages, media, the deletion and the marker through")

    result = await asyncio.to_thread(CliRunner().invoke, app, ["status", "--json", "--idle-seconds", "1"],
                                     env=_env(settings))
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    chats = {c["channel_id"]: c for c in report["channels"]}
    assert {k: (c["title"], c["messages"], c["deleted"]) for k, c in chats.items()} == {
        100: ("hundred", 3, 1), 200: ("two hundred", 1, 0)}
    assert chats[100]["newest_message"] == T0.isoformat()
    coverage = {c["channel_id"]: (c["ids"], c["dates"], [r["source"] for r in c["ranges"]]) for c in report["coverage"]}
    assert coverage == {100: ([[1, 3]], [[T0.isoformat(), T0.isoformat()]], ["export"]), 200: ([], [], [])}
    assert report["media"] == {"missing": 1, "stored": 1}
    assert report["dead_letters"] == {"total": 1, "by_error_class": {"UndecodableEventError": 1}}
    groups = {g["group"]: g for g in report["consumer_groups"]}
    writer, media = groups[settings.writer_group], groups[settings.media_group]
    assert (writer["topic"], media["topic"]) == (settings.topic_messages, settings.topic_committed)
    # Committed offsets are exact on any broker: 7 records read by the writer, 4 committed events by media.
    assert sum(p["committed"] or 0 for p in writer["partitions"]) == 7
    assert sum(p["committed"] or 0 for p in media["partitions"]) == 4
    assert [p["partition"] for p in writer["partitions"]] == [0, 1, 2]
    assert report["lag_note"] == TANSU_NOTE
    if not kafka.is_tansu:  # Tansu's end offsets are wrong; Apache Kafka's high watermarks are not
        assert writer["lag"] == 0 and media["lag"] == 0

    text = await asyncio.to_thread(CliRunner().invoke, app, ["status", "--idle-seconds", "1"], env=_env(settings))
    assert text.exit_code == 0, text.output
    for expected in ("hundred", "Coverage", "│ 100     │ 1-3 ", "Media by status", "Consumer lag", "dead letters: 1",
                     "UndecodableEventError: 1", "Tansu"):
        assert expected in text.output, expected


def test_status_needs_the_broker():
    result = CliRunner().invoke(app, ["status"], env={"TGPIPE_KAFKA_BOOTSTRAP_SERVERS": ""})
    assert result.exit_code == 2
