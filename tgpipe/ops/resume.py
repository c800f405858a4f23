"""Resuming ``tgpipe archive``: what of an export is archived for good, kept as checkpoints.

A chat's checkpoint (:mod:`tgpipe.db.checkpoints`) is the number of its payloads, in export order,
that are archived for good: each committed by the writer and then processed by the media service
(its media rows written; a message without media is archived for good once committed: the media
service has nothing to write for it), or superseded by a newer stored version, or not published (refused), or
dead-lettered (reported by the run that saw it). The progress hooks fire only once those writes
are committed, so a checkpoint never counts a message a ``kill -9`` could lose. It is saved as the
done prefix grows, one statement per wake-up of :func:`keep_checkpoints` (the hooks fire per
writer and media batch), so a rerun publishes again at most what was settled since the last save:
about one batch per chat, beside what was not settled yet.

Known limit (seen with the services in processes of their own, :mod:`tgpipe.runtime.children`,
where the collector publishes far ahead of the writer): a rerun's prefix cannot move past a
message the previous run settled after its last save until this run's own event of that message
comes through, and that event is queued behind whatever the previous run published and its
services had not consumed yet. A rerun killed while draining that backlog leaves its checkpoint
further behind the tables than one batch (tests/ops/test_archive_resume.py fails intermittently
there).

Checkpoints are keyed on the export's identity (:func:`tgpipe.ops.exports.export_identity`),
never on its path, and live in the archive's own database: another export, or a fresh database,
starts from the beginning.
"""

from __future__ import annotations

import asyncio
from array import array
from collections.abc import Callable, Iterable, Iterator

from schemas import MessageUpsertedPayload
from tgpipe.db import connection
from tgpipe.db.checkpoints import save_checkpoints
from tgpipe.runtime.progress import MessageKey, ProgressTracker, Stage


class ResumeLog:
    """Per chat, the message ids of an export's payloads in export order (:meth:`order`), and how
    many at the head of each are settled (:attr:`done`), starting from the saved checkpoints.

    Memory: 9 bytes a payload (one int64 array and one bytearray, whether it has media, per chat).
    """

    def __init__(self, start: dict[int, int]) -> None:
        self.start = dict(start)
        """``{chat id: payloads}`` skipped by this run: settled by an earlier one."""
        self.done = dict(start)
        """``{chat id: payloads}`` settled so far, at the head of the chat."""
        self.refused: set[MessageKey] = set()
        """Messages this run did not publish (settled: there is nothing to wait for)."""
        self._ids: dict[int, array] = {}
        self._media: dict[int, bytearray] = {}

    def order(self, payloads: Iterable[MessageUpsertedPayload]) -> Iterator[MessageUpsertedPayload]:
        """Yield ``payloads`` unchanged, noting each one's place in its chat."""
        for payload in payloads:
            self._ids.setdefault(payload.channel.channel_id, array("q")).append(payload.message.message_id)
            self._media.setdefault(payload.channel.channel_id, bytearray()).append(bool(payload.media))
            yield payload

    def advance(self, settled: Callable[[MessageKey, bool], bool]) -> dict[int, int]:
        """Move each chat's done prefix over the payloads ``settled(key, has media)`` now accepts;
        return the chats that moved, ``{chat id: payloads done}``."""
        moved = {}
        for chat_id, ids in self._ids.items():
            done = before = self.done.get(chat_id, 0)
            media = self._media[chat_id]
            while done < len(ids) and ((key := (chat_id, ids[done])) in self.refused or settled(key, media[done])):
                done += 1
            if done != before:
                self.done[chat_id] = moved[chat_id] = done
        return moved


def settled_by(tracker: ProgressTracker) -> Callable[[MessageKey, bool], bool]:
    """Whether a message (with media or not) is archived for good as far as ``tracker`` saw:
    processed by the media service after its commit (without media: committed), superseded, or
    dead-lettered."""
    settled = Stage.PROCESSED | Stage.SUPERSEDED | Stage.DEAD_LETTERED

    def check(key: MessageKey, media: bool) -> bool:
        return bool(tracker.states.state(key) & (settled if media else settled | Stage.COMMITTED))
    return check


async def keep_checkpoints(database_url: str, identity: str, log: ResumeLog, tracker: ProgressTracker,
                           wake: asyncio.Event) -> None:
    """Save the chats' done prefixes of the export ``identity`` each time ``wake`` is set, until
    cancelled (the statement in flight, one transaction, is then rolled back or committed whole).

    Raises:
        OSError, asyncpg.PostgresError: the database went away.
    """
    settled = settled_by(tracker)
    async with connection(database_url) as conn:
        while True:
            await wake.wait()
            wake.clear()
            if moved := log.advance(settled):
                await save_checkpoints(conn, identity, moved)
