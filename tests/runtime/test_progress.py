"""The progress tracker: what "done" means (messages and range-complete markers: settled, or
dead-lettered), and its memory (no Python object per message)."""

from __future__ import annotations

import tracemalloc

from schemas import encode_event
from tests.support.factories import message_event, range_marker
from tgpipe.kafka.dead_letters import ERROR_CLASS, ERROR_MESSAGE, DeadLetter
from tgpipe.runtime.progress import ProgressTracker, Stage


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


def test_done_when_every_published_message_is_processed_superseded_or_dead_lettered():
    tracker = ProgressTracker()
    events = [message_event(7, i) for i in (1, 2, 3)]
    tracker.on_published(events)
    tracker.record(Stage.COMMITTED, [(7, 1), (7, 2)])
    tracker.record(Stage.PROCESSED, [(7, 1)])
    tracker.on_superseded([(7, 3)])
    assert not tracker.done  # (7, 2) is committed, not processed
    assert tracker.count(Stage.COMMITTED | Stage.SUPERSEDED) == 3 and len(tracker.processed) == 1
    tracker.on_dead_letter(DeadLetter(topic="dl", partition=0, offset=0, key=b"7", value=encode_event(events[1]),
                                      headers={ERROR_CLASS: b"MediaError", ERROR_MESSAGE: b"gone"}, timestamp_ms=0))
    assert tracker.done
    assert tracker.dead_lettered == {(7, 2): "MediaError: gone"}
    assert sorted(tracker.published) == [(7, 1), (7, 2), (7, 3)] and (7, 4) not in tracker.published
    assert tracker.processed <= tracker.committed and not tracker.committed <= tracker.processed


def test_a_dead_letter_of_a_message_not_published_here_is_ignored():
    tracker = ProgressTracker()
    tracker.on_dead_letter(DeadLetter(topic="dl", partition=0, offset=0, key=b"7", value=encode_event(message_event(7, 1)),
                                      headers={}, timestamp_ms=0))
    assert tracker.dead_lettered == {} and not tracker.states.count(bool)


def test_memory_does_not_grow_with_a_python_object_per_message():
    tracker = ProgressTracker()
    keys = [(chat, i) for chat in (1, 2) for i in range(1, 500_001)]  # a million keys, built before measuring
    tracemalloc.start()
    for stage in (Stage.PUBLISHED, Stage.COMMITTED, Stage.PROCESSED):
        for start in range(0, len(keys), 500):  # in batches, as the hooks report them
            tracker.record(stage, keys[start:start + 500])
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert tracker.done and len(tracker.processed) == 1_000_000
    assert held < 4 * 2**20  # about 1 byte a message id; a set of the keys alone holds over 100 MB
