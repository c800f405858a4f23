"""Progress of messages through the pipeline, observed through the services' hooks.

Used by ``tgpipe archive`` and ``tgpipe replay`` (and the tests and the benchmark) to know when
every published message was committed by the writer and processed by the media service, and
every published range-complete marker recorded in the coverage ledger, without reading end offsets.
The hooks may fire in this process (:mod:`tgpipe.runtime.inprocess`) or in a service's own process
that reports them over a pipe (:mod:`tgpipe.runtime.children`, keys only: :meth:`ProgressTracker.record`).

Memory: one byte per message id of the range a chat's ids span, in blocks of :data:`BLOCK` ids
allocated on first use (a chat whose ids are sparse costs up to one block per message), plus
the markers and the dead letters (a handful each); never a Python object per message.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable, Iterator
from enum import IntFlag

from schemas import MessageCommitted, MessageUpserted, RangeCompleted, decode_event
from tgpipe.kafka.dead_letters import ERROR_CLASS, ERROR_MESSAGE, DeadLetter
from tgpipe.errors import EventError, TgpipeError

MessageKey = tuple[int, int]

BLOCK_BITS = 7
BLOCK = 1 << BLOCK_BITS
"""Message ids per block of :class:`KeyStates` (one byte each)."""


class PipelineStalled(TgpipeError):
    """No message was committed or processed for ``stall_timeout`` seconds while some were pending."""


class Stage(IntFlag):
    """What the pipeline did with a message key (a key's state is a combination of these)."""

    PUBLISHED = 1  # acknowledged by the broker, published here
    COMMITTED = 2  # committed by the writer, committed event acknowledged
    PROCESSED = 4  # media rows written by the media service
    SUPERSEDED = 8  # a version the writer refused: a newer one is stored (contract O1)
    DEAD_LETTERED = 16  # published here and dead-lettered by a service


_STATES = 32  # every combination of Stage's five flags


class KeyStates:
    """The :class:`Stage` flags of each message key, with the number of keys in each state.

    Per chat, ``{id // BLOCK: bytearray(BLOCK)}``: one byte of flags per message id. The
    histogram of states answers every count and inclusion question in 32 steps, whatever the
    number of keys.
    """

    def __init__(self) -> None:
        self._chats: dict[int, dict[int, bytearray]] = {}
        self.histogram = [0] * _STATES
        """``histogram[state]``: keys whose flags are exactly ``state`` (state 0: never counted)."""

    def mark(self, keys: Iterable[MessageKey], flag: Stage) -> None:
        """Add ``flag`` to each key's state."""
        histogram = self.histogram
        for chat_id, message_id in keys:
            blocks = self._chats.get(chat_id)
            if blocks is None:
                blocks = self._chats[chat_id] = {}
            block = blocks.get(message_id >> BLOCK_BITS)
            if block is None:
                block = blocks[message_id >> BLOCK_BITS] = bytearray(BLOCK)
            index = message_id & (BLOCK - 1)
            old = block[index]
            if not old & flag:
                block[index] = old | flag
                histogram[old] -= 1
                histogram[old | flag] += 1

    def state(self, key: MessageKey) -> int:
        """The flags of ``key`` (0: never seen)."""
        block = self._chats.get(key[0], {}).get(key[1] >> BLOCK_BITS)
        return block[key[1] & (BLOCK - 1)] if block is not None else 0

    def count(self, where: Callable[[int], bool]) -> int:
        """The number of keys whose state satisfies ``where``."""
        return sum(n for state, n in enumerate(self.histogram) if state and n and where(state))

    def keys(self, flag: Stage) -> Iterator[MessageKey]:
        """Every key with ``flag``, chat by chat in ascending message id order."""
        for chat_id, blocks in self._chats.items():
            for number in sorted(blocks):
                block = blocks[number]
                yield from ((chat_id, (number << BLOCK_BITS) + i) for i, state in enumerate(block) if state & flag)


class KeyView:
    """The keys of one :class:`Stage`, read-only: ``key in view``, ``len(view)``, iteration, and
    ``view <= other`` / ``other <= view`` (``other`` a view of the same tracker, or any iterable of keys)."""

    def __init__(self, states: KeyStates, flag: Stage) -> None:
        self._states, self.flag = states, flag

    def __contains__(self, key: object) -> bool:
        return isinstance(key, tuple) and bool(self._states.state(key) & self.flag)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return self._states.count(lambda state: bool(state & self.flag))

    def __iter__(self) -> Iterator[MessageKey]:
        return self._states.keys(self.flag)

    def __le__(self, other: object) -> bool:
        if isinstance(other, KeyView) and other._states is self._states:
            return not self._states.count(lambda state: bool(state & self.flag) and not state & other.flag)
        if isinstance(other, Iterable):
            return all(key in other for key in self)
        return NotImplemented

    def __ge__(self, other: object) -> bool:
        if isinstance(other, Iterable):
            return all(key in self for key in other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"<{self.flag.name} keys: {len(self)}>"


def _upserted_key(event: MessageUpserted) -> MessageKey:
    return event.payload.message.channel_id, event.payload.message.message_id


def _committed_key(event: MessageCommitted) -> MessageKey:
    return event.payload.channel_id, event.payload.message_id


class ProgressTracker:
    """Message keys ``(chat id, message id)`` seen at each stage, fed by the services' hooks.

    ``published``, ``committed``, ``processed`` and ``superseded`` are :class:`KeyView` s;
    ``dead_lettered`` maps the keys published here and dead-lettered to why. ``on_change``
    (e.g. a progress-bar refresh) is called after every hook.
    """

    def __init__(self, on_change: Callable[[], None] | None = None) -> None:
        self.states = KeyStates()
        self.published = KeyView(self.states, Stage.PUBLISHED)
        self.committed = KeyView(self.states, Stage.COMMITTED)
        self.processed = KeyView(self.states, Stage.PROCESSED)
        self.superseded = KeyView(self.states, Stage.SUPERSEDED)
        self.dead_lettered: dict[MessageKey, str] = {}  # published here, dead-lettered: why
        self.marked: dict[uuid.UUID, RangeCompleted] = {}  # markers published here, by event id
        self.covered: set[uuid.UUID] = set()  # event ids of the markers the writer recorded
        self.markers_dead_lettered: dict[uuid.UUID, str] = {}  # published here, dead-lettered: why
        self._changed = asyncio.Event()
        self._on_change = on_change

    def _notify(self) -> None:
        self._changed.set()
        if self._on_change:
            self._on_change()

    def record(self, stage: Stage, keys: Iterable[MessageKey]) -> None:
        """Add ``stage`` to each of ``keys`` (what every message hook does; a service in another
        process reports its hooks this way)."""
        self.states.mark(keys, stage)
        self._notify()

    def record_covered(self, event_ids: Iterable[uuid.UUID]) -> None:
        """The markers with these event ids have their coverage rows committed."""
        self.covered.update(event_ids)
        self._notify()

    def count(self, stages: Stage) -> int:
        """The number of keys that reached any of ``stages`` (e.g. ``COMMITTED | SUPERSEDED``)."""
        return self.states.count(lambda state: bool(state & stages))

    def on_published(self, events: list[MessageUpserted]) -> None:
        """Collector hook: these events were acknowledged by the broker."""
        self.record(Stage.PUBLISHED, map(_upserted_key, events))

    def on_dead_letter(self, letter: DeadLetter) -> None:
        """Dead-letter hook (:func:`tgpipe.kafka.dead_letters.watch_dead_letters`): when ``letter`` is a
        marker published here, or an event (or the committed event) of a message published here,
        that message or marker is done, with the reason. A message is recognised by its key,
        decoded from the letter: the caller skips letters older than its run."""
        try:
            event = decode_event(letter.value)
        except EventError:
            return
        reason = f"{letter.header(ERROR_CLASS)}: {letter.header(ERROR_MESSAGE)}"
        if isinstance(event, RangeCompleted):
            if event.event_id in self.marked:
                self.markers_dead_lettered[event.event_id] = reason
                self._notify()
            return
        if isinstance(event, MessageCommitted):
            key = _committed_key(event)
        elif isinstance(event, MessageUpserted):
            key = _upserted_key(event)
        else:
            return
        if key in self.published:
            self.dead_lettered[key] = reason
            self.record(Stage.DEAD_LETTERED, [key])

    def on_committed(self, events: list[MessageCommitted]) -> None:
        """Writer hook: these messages are committed and their committed events acknowledged."""
        self.record(Stage.COMMITTED, map(_committed_key, events))

    def on_marked(self, events: list[RangeCompleted]) -> None:
        """Collector hook: these range-complete markers were acknowledged by the broker."""
        self.marked.update((e.event_id, e) for e in events)
        self._notify()

    def on_covered(self, events: list[RangeCompleted]) -> None:
        """Writer hook: these markers' coverage rows are committed."""
        self.record_covered(e.event_id for e in events)

    def on_superseded(self, keys: list[MessageKey]) -> None:
        """Writer hook: these messages' versions lost to newer stored ones (contract O1); the
        newer version went through the pipeline under its own event."""
        self.record(Stage.SUPERSEDED, keys)

    def on_processed(self, events: list[MessageCommitted]) -> None:
        """Media hook: these committed events have their media rows written."""
        self.record(Stage.PROCESSED, map(_committed_key, events))

    @property
    def done(self) -> bool:
        """Every published message was committed and then processed by the media service,
        superseded by a newer stored version, or dead-lettered on the way; and every published
        marker was recorded or dead-lettered."""
        settled = Stage.PROCESSED | Stage.SUPERSEDED | Stage.DEAD_LETTERED
        return (not self.states.count(lambda state: bool(state & Stage.PUBLISHED) and not state & settled)
                and self.marked.keys() <= self.covered | self.markers_dead_lettered.keys())

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
