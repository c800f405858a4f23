"""The progress tracker waits for range-complete markers as for messages: recorded, or dead-lettered."""

from __future__ import annotations

from schemas import encode_event
from tests.support.factories import range_marker
from tgpipe.kafka.dead_letters import ERROR_CLASS, ERROR_MESSAGE, DeadLetter
from tgpipe.runtime.progress import ProgressTracker


def test_a_published_marker_is_pending_until_the_writer_records_it():
    tracker, marker = ProgressTracker(), range_marker(5, 1, 3)
    assert tracker.done
    tracker.on_marked([marker])
    assert not tracker.done
    tracker.on_covered([marker])
    assert tracker.done


def test_a_dead_lettered_marker_ends_the_wait_with_its_reason():
    tracker, marker = ProgressTracker(), range_marker(5, 1, 3)
    tracker.on_marked([marker])
    tracker.on_dead_letter(DeadLetter(topic="dl", partition=0, offset=0, key=b"5", value=encode_event(marker),
                                      headers={ERROR_CLASS: b"EventSchemaError", ERROR_MESSAGE: b"bad"},
                                      timestamp_ms=0))
    assert tracker.done
    assert tracker.markers_dead_lettered == {marker.event_id: "EventSchemaError: bad"}
