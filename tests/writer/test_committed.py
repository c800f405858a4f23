"""The writer's ``message.committed`` events as they land on the committed topic."""

from __future__ import annotations

from schemas import decode_event
from services.writer.app import committed_events, publish_all
from tests.support.factories import message_event
from tests.support.records import drain
from tgpipe.kafka.broker import make_broker


async def test_committed_events_are_keyed_by_chat_and_correlated_by_event_id(settings):
    committed = committed_events([message_event(7, 1), message_event(7, 2), message_event(8, 1)])
    broker = make_broker(settings, client_id="test-writer")
    await broker.start()
    try:
        await publish_all(broker, settings.topic_committed, committed)
    finally:
        await broker.stop()

    records = await drain(settings, settings.topic_committed)
    by_id = {str(e.event_id): e for e in committed}
    assert sorted(str(decode_event(r.value).event_id) for r in records) == sorted(by_id)  # acked: all there
    for record in records:
        event = decode_event(record.value)
        assert event == by_id[str(event.event_id)]
        assert record.key == str(event.payload.channel_id).encode()
        assert dict(record.headers)["correlation_id"].decode() == str(event.event_id)
