"""Progress of messages through the pipeline, observed in-process through the services' hooks.

Used by ``tgpipe archive`` and ``tgpipe replay`` (and the tests and the benchmark) to know when
every published message was committed by the writer and processed by the media service, and
every published range-complete marker recorded in the coverage ledger, without reading end offsets.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable

from schemas import MessageCommitted, MessageUpserted, RangeCompleted, decode_event
from tgpipe.kafka.dead_letters import ERROR_CLASS, ERROR_MESSAGE, DeadLetter
from tgpipe.errors import EventError, TgpipeError

MessageKey = tuple[int, int]


class PipelineStalled(TgpipeError):
    """No message was committed or processed for ``stall_timeout`` seconds while some were pending."""


class ProgressTracker:
    """Message keys ``(chat id, message id)`` seen at each stage, fed by the services' hooks.

    ``on_change`` (e.g. a progress-bar refresh) is called after every hook.
    """

    def __init__(self, on_change: Callable[[], None] | None = None) -> None:
        self.published: set[MessageKey] = set()
        self.committed: set[MessageKey] = set()
        self.processed: set[MessageKey] = set()
        self.superseded: set[MessageKey] = set()  # a version the writer refused: a newer one is stored
        self.dead_lettered: dict[MessageKey, str] = {}  # published here, dead-lettered: why
        self._published_ids: dict[uuid.UUID, MessageKey] = {}
        self.marked: dict[uuid.UUID, RangeCompleted] = {}  # markers published here, by event id
        self.covered: dict[uuid.UUID, RangeCompleted] = {}  # markers the writer recorded
        self.markers_dead_lettered: dict[uuid.UUID, str] = {}  # published here, dead-lettered: why
        self._changed = asyncio.Event()
        self._on_change = on_change

    def _add(self, target: set[MessageKey], keys: Iterable[MessageKey]) -> None:
        target.update(keys)
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        if self._on_change:
            self._on_change()

    def on_published(self, events: list[MessageUpserted]) -> None:
        """Collector hook: these events were acknowledged by the broker."""
        self._published_ids.update((e.event_id, (e.payload.message.channel_id, e.payload.message.message_id))
                                   for e in events)
        self._add(self.published, ((e.payload.message.channel_id, e.payload.message.message_id) for e in events))

    def on_dead_letter(self, letter: DeadLetter) -> None:
        """Dead-letter hook (:func:`tgpipe.kafka.dead_letters.watch_dead_letters`): when ``letter`` is an event
        published here, or the committed event of one, its message is done, with the reason."""
        try:
            event = decode_event(letter.value)
        except EventError:
            return
        event_id = event.payload.causation_id if isinstance(event, MessageCommitted) else event.event_id
        if event_id in self.marked:
            self.markers_dead_lettered[event_id] = f"{letter.header(ERROR_CLASS)}: {letter.header(ERROR_MESSAGE)}"
            self._notify()
        elif (key := self._published_ids.get(event_id)) is not None:
            self.dead_lettered[key] = f"{letter.header(ERROR_CLASS)}: {letter.header(ERROR_MESSAGE)}"
            self._notify()

    def on_committed(self, events: list[MessageCommitted]) -> None:
        """Writer hook: these messages are committed and their committed events acknowledged."""
        self._add(self.committed, ((e.payload.channel_id, e.payload.message_id) for e in events))

    def on_marked(self, events: list[RangeCompleted]) -> None:
        """Collector hook: these range-complete markers were acknowledged by the broker."""
        self.marked.update((e.event_id, e) for e in events)
        self._notify()

    def on_covered(self, events: list[RangeCompleted]) -> None:
        """Writer hook: these markers' coverage rows are committed."""
        self.covered.update((e.event_id, e) for e in events)
        self._notify()

    def on_superseded(self, keys: list[MessageKey]) -> None:
        """Writer hook: these messages' versions lost to newer stored ones (contract O1); the
        newer version went through the pipeline under its own event."""
        self._add(self.superseded, keys)

    def on_processed(self, events: list[MessageCommitted]) -> None:
        """Media hook: these committed events have their media rows written."""
        self._add(self.processed, ((e.payload.channel_id, e.payload.message_id) for e in events))

    @property
    def done(self) -> bool:
        """Every published message was committed and then processed by the media service,
        superseded by a newer stored version, or dead-lettered on the way; and every published
        marker was recorded or dead-lettered."""
        return (self.published <= self.processed | self.superseded | self.dead_lettered.keys()
                and self.marked.keys() <= self.covered.keys() | self.markers_dead_lettered.keys())

    async def wait_until(self, predicate: Callable[[], bool], stall_timeout: float) -> None:
        """Return once ``predicate()`` holds.

        Raises:
            PipelineStalled: no hook reported progress for ``stall_timeout`` seconds.
        """
        while True:
            self._changed.clear()
            if predicate():
                return
            try:
                await asyncio.wait_for(self._changed.wait(), stall_timeout)
            except TimeoutError:
                raise PipelineStalled(
                    f"no progress for {stall_timeout:.0f}s: published {len(self.published)}, "
                    f"committed {len(self.committed)}, superseded {len(self.superseded)}, "
                    f"media {len(self.processed)}, markers {len(self.marked)}, recorded {len(self.covered)}"
                ) from None
