"""The export's range-complete markers: after each chat's messages, one per stretch published whole."""

from __future__ import annotations

from datetime import timedelta

from schemas import RangeCompleted, decode_event
from services.collector.publish import publish_export
from services.collector.ranges import RangeTracker
from tests.support.factories import T0, message_event
from tests.support.records import drain
from tgpipe.kafka.broker import make_broker


def _dated(chat_id: int, message_id: int, *, text: str = ""):
    event = message_event(chat_id, message_id, text=text)
    message = event.payload.message.model_copy(update={"date": T0 + timedelta(minutes=message_id)})
    return event.payload.model_copy(update={"message": message})


async def test_contract_C1_markers_follow_each_chats_messages_on_its_partition(settings):
    # Message 4 of chat 901 has a text over the limit: it is refused, and no marker covers it.
    settings = settings.model_copy(update={"max_text_chars": 10})
    payloads = [_dated(900, i) for i in (1, 2, 5)] + [_dated(901, i, text="x" * (20 if i == 4 else 1))
                                                       for i in range(2, 8)]
    broker = make_broker(settings, client_id="test-collector")
    await broker.start()
    try:
        marked: list[RangeCompleted] = []
        sent, markers = await publish_export(broker, settings, payloads, source="test", on_marked=marked.extend)
    finally:
        await broker.stop()
    assert sent == 8 and marked == markers
    assert [(m.payload.channel.channel_id, m.payload.first_message_id, m.payload.last_message_id,
             m.payload.first_date, m.payload.last_date, m.payload.source) for m in markers] == [
        (900, 1, 5, T0 + timedelta(minutes=1), T0 + timedelta(minutes=5), "export"),
        (901, 2, 3, T0 + timedelta(minutes=2), T0 + timedelta(minutes=3), "export"),
        (901, 5, 7, T0 + timedelta(minutes=5), T0 + timedelta(minutes=7), "export")]

    records = await drain(settings, settings.topic_messages)
    for chat in (900, 901):
        mine = [r for r in records if r.key == str(chat).encode()]
        assert len({r.partition for r in mine}) == 1
        events = [decode_event(r.value) for r in sorted(mine, key=lambda r: r.offset)]
        first_marker = next(i for i, e in enumerate(events) if isinstance(e, RangeCompleted))
        assert all(isinstance(e, RangeCompleted) for e in events[first_marker:])  # messages first


def test_a_chat_without_published_messages_gets_no_marker():
    tracker = RangeTracker()
    tracker.refused(_dated(5, 1).message)
    tracker.sent(_dated(6, 1).channel, _dated(6, 1).message)
    assert [m.payload.channel.channel_id for m in tracker.markers("test", "export")] == [6]


def test_the_same_range_gives_the_same_marker_id():
    def marker_ids() -> list:
        tracker = RangeTracker()
        for i in (3, 1, 2):
            tracker.sent(_dated(6, i).channel, _dated(6, i).message)
        return [m.event_id for m in tracker.markers("export:/a", "export")]

    assert marker_ids() == marker_ids()
