"""The collector's publishing: what lands on the messages topic, record by record."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from schemas import RangeCompleted, decode_event
from services.collector.export import ExportReader
from services.collector.publish import publish_export, publish_payloads
from tests.support.factories import corrupt_in_place, export_entry, message_event
from tgpipe.errors import ExportError
from tests.support.records import drain
from tgpipe.kafka.broker import make_broker
from tgpipe.settings import Settings


async def test_records_are_keyed_ordered_per_channel_and_correlated_by_event_id(settings):
    # The smallest producer batch: 300 events of 4 channels need many record batches per partition.
    settings = settings.model_copy(update={"kafka_producer_batch_bytes": 16 * 1024})
    payloads = [message_event(900 + i % 4, i, text="x" * 200).payload for i in range(300)]
    broker = make_broker(settings, client_id="test-collector")
    await broker.start()
    try:
        acked: list = []
        assert await publish_payloads(broker, settings, payloads, source="test", on_acked=acked.extend) == 300
    finally:
        await broker.stop()

    records = await drain(settings, settings.topic_messages)
    assert len(records) == 300 and len(acked) == 300
    partitions: dict[bytes, set[int]] = defaultdict(set)
    seqs: dict[bytes, list[int]] = defaultdict(list)
    for record in records:
        event = decode_event(record.value)
        assert record.key == str(event.payload.channel.channel_id).encode()
        assert dict(record.headers)["correlation_id"].decode() == str(event.event_id)
        partitions[record.key].add(record.partition)
        seqs[record.key].append(event.seq)
    assert all(len(p) == 1 for p in partitions.values())  # one channel, one partition
    assert all(s == sorted(s) and len(s) == 75 for s in seqs.values())  # in publish order, none lost
    assert sorted(e.event_id for e in acked) == sorted(uuid.UUID(dict(r.headers)["correlation_id"].decode())
                                                       for r in records)


@pytest.mark.parametrize("size", [1024, 32 * 1024 * 1024])
def test_a_producer_batch_size_out_of_range_fails_at_start_up(size):
    with pytest.raises(ValidationError, match="kafka_producer_batch_bytes"):
        Settings(kafka_producer_batch_bytes=size)


async def test_an_export_unreadable_mid_way_publishes_what_came_before_and_nothing_after(settings, tmp_path):
    """The reader's second pass meets a corrupt entry (the file was changed in place after the first
    pass, size and modification time kept): entries 1-30 were published, 31 on never are, and no
    range-complete marker claims the chat."""
    (tmp_path / "result.json").write_text(json.dumps({"name": "c", "type": "public_channel", "id": 42, "messages": [
        export_entry(i, text=f"message {i}") for i in range(1, 51)]}), encoding="utf-8")
    reader = ExportReader(tmp_path, timezone=ZoneInfo("UTC"))
    offset = corrupt_in_place(tmp_path / "result.json", b"message 31")
    broker = make_broker(settings, client_id="test-collector")
    await broker.start()
    try:
        with pytest.raises(ExportError, match=rf"at byte {offset:,} \(in chat 42, entry #30\)"):
            await publish_export(broker, settings, reader.payloads(), source="test")
    finally:
        await broker.stop()
    events = [decode_event(r.value) for r in await drain(settings, settings.topic_messages)]
    assert not any(isinstance(e, RangeCompleted) for e in events)
    assert sorted(e.payload.message.message_id for e in events) == list(range(1, 31))
