"""tgpipe.ops.resume without a broker: what settles a chat's prefix, what a rerun publishes again,
and payloads an earlier run stored after its last checkpoint found in the database."""

from __future__ import annotations

from schemas import MediaRef
from services.writer.persist import write_batch
from tests.support.factories import message_event
from tgpipe.db.checkpoints import load_checkpoints
from tgpipe.ops.resume import ResumeLog, save_progress, settled_by
from tgpipe.runtime.progress import ProgressTracker, Stage

IDENTITY = "e" * 64  # an export identity is a sha256 (hex)
PHOTO = MediaRef(kind="photo", source="export", path="photos/1.jpg")


def payloads(chat_id: int, ids: range, text: str = "") -> list:
    return [message_event(chat_id, i, text=text, media=[PHOTO]).payload for i in ids]


def test_a_committed_message_settles_its_place_before_its_media_are_processed():
    log, tracker = ResumeLog({}), ProgressTracker()
    list(log.order(payloads(1, range(1, 5))))  # every one with a photo
    tracker.record(Stage.PUBLISHED, [(1, i) for i in range(1, 5)])
    tracker.record(Stage.COMMITTED, [(1, 1), (1, 2)])
    tracker.record(Stage.SUPERSEDED, [(1, 4)])
    assert log.advance(settled_by(tracker)) == {1: 2}  # 3 is only published: the prefix stops there
    tracker.record(Stage.DEAD_LETTERED, [(1, 3)])
    assert log.advance(settled_by(tracker)) == {1: 4}


def test_a_resumed_chat_publishes_its_last_checkpointed_payload_again():
    log = ResumeLog({1: 10, 2: 1, 3: 0})
    assert log.skip == {1: 9}  # chat 2 skips nothing: its one settled payload is published again
    assert log.done == {1: 10, 2: 1, 3: 0}  # the prefix still starts at the checkpoint


def test_a_stuck_prefix_asks_once_per_place_for_the_ids_of_its_window():
    log = ResumeLog({1: 2}, window=3)
    list(log.order(payloads(1, range(1, 8)) + payloads(2, range(1, 3))))
    assert list(log.stuck()) == [(1, [3, 4, 5])]  # places 2..4 of chat 1; chat 2 is not resumed
    assert list(log.stuck()) == []  # asked already at this place
    log.settle_stored(1, {})  # nothing stored
    assert log.advance(settled_by(ProgressTracker())) == {}
    assert list(log.stuck()) == []


async def test_payloads_an_earlier_run_stored_after_its_checkpoint_are_settled(database_url, db):
    chat = payloads(1, range(1, 9))
    log = ResumeLog({1: 2}, window=4)
    list(log.order(chat))
    async with db.acquire() as conn:
        # Stored by the earlier run after its last save: 3 and 4 as exported, 5 in another version,
        # 7 beyond the window (places 2..5: ids 3..6).
        await write_batch(conn, [message_event(1, i, media=[PHOTO]) for i in (1, 2, 3, 4, 7)]
                          + [message_event(1, 5, text="another version", media=[PHOTO])])
        await save_progress(conn, IDENTITY, log, settled_by(ProgressTracker()))
        assert await load_checkpoints(conn, IDENTITY) == {1: 4}  # stuck at 5: not its version
        assert log.stored == {(1, 3), (1, 4)}
