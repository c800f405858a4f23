"""The collector's publishing: what lands on the messages topic, record by record."""

from __future__ import annotations

import uuid
from collections import defaultdict

import pytest
from pydantic import ValidationError

from schemas import decode_event
from services.collector.publish import publish_payloads
from tests.support.factories import message_event
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
