"""The Telegram collector: backfill from the database cursor, reconcile, gap check, live follow.

For every listed channel, :meth:`TelegramCollector.run`:

1. resolves it once (:class:`~.peers.PeerDirectory`: PostgreSQL first);
2. **reconciles** when the channel is already archived: re-fetches the most recent
   ``telegram_reconcile_window`` archived messages by id; a changed ``edit_date`` or reactions
   is published again (the writer keeps text versions), an id Telegram no longer returns is
   published as deleted;
3. **backfills** from the cursor, the highest message id committed in PostgreSQL
   (``iter_messages(min_id=cursor, reverse=True)``), or from ``--since``/``--from-id``. Ids are
   the cursor, never dates (album items share a second), and messages are published in id
   order, so the committed ids of a channel are always a prefix: a crash loses nothing and the
   restart re-publishes at most what was not yet committed (the writer is idempotent);
4. then **follows** live updates (new, edited, deleted messages) of the channels whose backfill
   completed. Updates are queued from the start, so none is missed between backfill and
   follow. A channel whose backfill stopped is not followed: live messages would move its
   cursor past the part not yet fetched.

**Coverage** (issue 12): after a backfill or a re-fetch (:meth:`TelegramCollector.refetch`) that
published its messages whole, a ``range.completed`` marker (source ``telegram_backfill``) follows
them on the chat's partition; a backfill starting from the database cursor anchors its marker at
the cursor's message, so consecutive runs leave no hole. While following, each published stretch
of live messages of a chat extends that coverage with one ``telegram_live`` marker from the last
marked message to the stretch's newest (one marker per chat per batch of updates). A read that
failed or refused a message publishes no marker. Fetch requests are served by
:mod:`.fetches`.

A FloodWait beyond the account's budget, or a Telegram error about one channel (private,
banned, unknown username), stops that channel with its reason; the others go on. Other errors
(broker, database, lost connection) end the run: restart it, the cursor resumes from PostgreSQL.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import aclosing, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated

import asyncpg
from faststream.kafka import KafkaBroker
from pydantic import ConfigDict, Field, computed_field
from pydantic.dataclasses import dataclass as pydantic_dataclass
from rich.progress import Progress, TaskID
from telethon.errors import FloodWaitError, RPCError
from telethon.tl import types

from schemas import (DeletedPayload, MessageDeleted, MessageUpserted, MessageUpsertedPayload, RangeCompleted,
                     RangeCompletedPayload)
from schemas.vocabulary import CoverageSource
from services.collector.publish import publish_payloads
from tgpipe.telegram.client import ChannelPeer, TelegramClient, TelegramMessage
from tgpipe.telegram.flood import FloodBudget, FloodWaitTooLong
from services.collector.telegram.fetches import serve_fetch_requests
from services.collector.telegram.mapping import channel_payload, live_change, message_payload
from tgpipe.telegram.peers import PeerDirectory
from tgpipe.kafka.broker import publish_event
from tgpipe.errors import TgpipeError
from tgpipe.settings import Settings

log = logging.getLogger(__name__)

#: Errors that stop one channel (reported), not the run.
CHANNEL_STOPS = (FloodWaitTooLong, RPCError, ValueError)
_FLUSH_EVERY = 100  # messages per publish while backfilling (one Telegram history page)
_IDS_PER_REQUEST = 100  # get_messages by id: Telegram's limit per request


class EmptyRange(TgpipeError):
    """A re-fetch has nothing to mark: its start is in the future, or the chat has no message."""


class TelegramDisconnected(TgpipeError):
    """Telethon gave up reconnecting; the live follow cannot go on (restart the collector)."""


@dataclass
class ChannelResult:
    """What the run did for one channel reference."""

    ref: str
    peer: ChannelPeer | None = None
    published: int = 0
    deleted: int = 0
    stopped: str | None = None  # why the channel was stopped, when it was

    @property
    def ok(self) -> bool:
        """Resolved and backfilled to the end."""
        return self.peer is not None and self.stopped is None


@pydantic_dataclass(config=ConfigDict(serialize_by_alias=True))
class GapReport:
    """Missing id ranges of one archived chat, and what a re-fetch found (``tgpipe collector gaps``).

    ``gaps`` are ``(first, last)`` id ranges, inclusive. ``absent`` ids were not returned by
    Telegram: deleted, or never used (service messages of other chats do not share channel ids,
    but deleted ones leave holes). They are reported only. JSON key of ``chat_id``: ``channel_id``.
    """

    chat_id: Annotated[int, Field(serialization_alias="channel_id")]
    gaps: list[tuple[int, int]]
    recovered: int = 0
    absent: list[int] = Field(default_factory=list)

    @computed_field
    @property
    def missing(self) -> int:
        """How many ids the gaps span."""
        return sum(last - first + 1 for first, last in self.gaps)


_CURSOR = "SELECT message_id, date FROM messages WHERE channel_id = $1 ORDER BY message_id DESC LIMIT 1"
_RECENT = """
SELECT message_id, edit_date, reactions FROM messages
WHERE channel_id = $1 AND deleted_at IS NULL ORDER BY message_id DESC LIMIT $2"""
_DATES = "SELECT message_id, date FROM messages WHERE channel_id = $1 AND message_id = ANY($2::bigint[])"
_GAPS = """
SELECT message_id + 1 AS first, next_id - 1 AS last
FROM (SELECT message_id, lead(message_id) OVER (ORDER BY message_id) AS next_id
      FROM messages WHERE channel_id = $1) AS ids
WHERE next_id > message_id + 1 ORDER BY first"""


async def find_gaps(conn: asyncpg.Connection, chat_id: int) -> list[tuple[int, int]]:
    """Id ranges ``(first, last)`` missing between the lowest and highest archived id of a chat."""
    return [(r["first"], r["last"]) for r in await conn.fetch(_GAPS, chat_id)]


@dataclass
class Stretch:
    """The id and date span of messages published in one read: ``first``/``last`` as
    ``(message id, date)``; ``first`` may be an anchor (a message archived before)."""

    first: tuple[int, datetime] | None = None
    last: tuple[int, datetime] | None = None

    def add(self, message_id: int, date: datetime) -> None:
        """Extend the stretch with one message (messages come in id order)."""
        self.first = self.first or (message_id, date)
        self.last = (message_id, date) if self.last is None else max(self.last, (message_id, date))


def _chunks(ids: Sequence[int], size: int) -> Iterable[list[int]]:
    iterator = iter(ids)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


class TelegramCollector:
    """Publishes a Telegram account's view of channels to the messages topic.

    Args:
        client: the Telegram interface (real or fake).
        broker: a started producer-side broker.
        pool: PostgreSQL (cursor, reconcile window, ``channel_peers``).
        flood: the account's FloodWait budget (default: ``telegram_flood_budget_s``).
        progress: a rich progress display; one task per channel.
        on_published: called with each chunk of ``message.upserted`` events the broker acknowledged.
    """

    def __init__(self, client: TelegramClient, broker: KafkaBroker, settings: Settings, pool: asyncpg.Pool, *,
                 flood: FloodBudget | None = None, progress: Progress | None = None,
                 on_published: Callable[[list[MessageUpserted]], None] | None = None) -> None:
        self.client = client
        self.broker = broker
        self.settings = settings
        self.pool = pool
        self.flood = flood or FloodBudget(settings.telegram_flood_budget_s)
        self.peers = PeerDirectory(pool, client, self.flood, settings.telegram_resolve_interval_s)
        self.progress = progress
        self.on_published = on_published
        self._tasks: dict[str, TaskID] = {}
        self._source = "telegram"
        self._refused = 0  # messages publish_payloads refused (too large): a read with one is not whole
        self._marked: dict[int, tuple[int, datetime]] = {}  # chat id → last message its coverage reaches

    # ------------------------------------------------------------------ the run

    async def run(self, refs: Sequence[str], *, since: datetime | None = None, from_id: int | None = None,
                  takeout: bool = False, follow: bool = True, stop: asyncio.Event | None = None
                  ) -> list[ChannelResult]:
        """Resolve, reconcile and backfill every channel of ``refs``, then follow them until ``stop``.

        Args:
            since: re-collect from this date (instead of the database cursor).
            from_id: re-collect from this message id, inclusive (instead of the cursor).
            takeout: backfill through a takeout session (lower flood limits; Telegram may ask
                the user to confirm it in another app first).
            follow: follow live updates after the backfill (until ``stop`` is set).

        Raises:
            TelegramDisconnected: the connection was lost for good while following.
            Exception: broker, database or connection errors end the run (restart resumes).
        """
        self._source = f"telegram:{await self.peers.account_id()}"
        results = [ChannelResult(ref) for ref in refs]
        updates: asyncio.Queue[object] = asyncio.Queue()

        async def on_update(update: object) -> None:
            updates.put_nowait(update)

        if follow:
            self.client.add_update_handler(on_update)
        try:
            for result in results:
                self._show(result, "resolving")
                await self._stopping_channel(result, self._resolve(result))
            backfill_client = self.client.takeout() if takeout else nullcontext(self.client)
            async with backfill_client as source:
                for result in results:
                    if result.peer is not None:
                        await self._stopping_channel(result, self._collect(source, result, since, from_id))
            followed = {r.peer.channel_id: r for r in results if r.ok and r.peer}
            if follow and followed:
                await self._follow_and_serve(updates, followed, stop or asyncio.Event())
            elif follow:
                log.error("no channel to follow: every channel was stopped")
        finally:
            if follow:
                self.client.remove_update_handler(on_update)
        return results

    async def _stopping_channel(self, result: ChannelResult, work) -> None:
        try:
            await work
        except CHANNEL_STOPS as exc:
            result.stopped = f"{type(exc).__name__}: {exc}"
            log.error("channel %s stopped: %s", result.ref, result.stopped)
            self._show(result, "[red]stopped[/red]")

    async def _resolve(self, result: ChannelResult) -> None:
        result.peer = await self.peers.get(result.ref)

    async def _collect(self, client: TelegramClient, result: ChannelResult, since: datetime | None,
                       from_id: int | None) -> None:
        assert result.peer is not None
        peer = result.peer
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(_CURSOR, peer.channel_id)
        anchor = (row["message_id"], row["date"]) if row else None
        cursor = anchor[0] if anchor else 0
        if cursor:
            self._show(result, "reconciling")
            await self.reconcile(client, peer, result)
        if from_id is not None:
            cursor, since, anchor = from_id - 1, None, None
        elif since is not None:
            cursor, anchor = 0, None
        self._show(result, "backfilling")
        await self.backfill(client, peer, result, min_id=cursor, offset_date=since, anchor=anchor)
        self._show(result, "backfilled")

    # ------------------------------------------------------------------ backfill

    async def backfill(self, client: TelegramClient, peer: ChannelPeer, result: ChannelResult, *,
                       min_id: int = 0, offset_date: datetime | None = None,
                       anchor: tuple[int, datetime] | None = None) -> None:
        """Publish every message of ``peer`` after ``min_id`` (or after ``offset_date``), oldest first,
        then a ``range.completed`` marker (``telegram_backfill``) over them, from ``anchor`` (the
        archived message ``(id, date)`` at ``min_id``) when given.

        A FloodWait within the budget is slept and the history resumes after the last message
        read; beyond the budget :class:`FloodWaitTooLong` stops the channel (everything read
        before it is published, no marker).
        """
        channel = channel_payload(peer)
        batch: list[MessageUpsertedPayload] = []
        stretch, refused = Stretch(first=anchor), self._refused
        async with aclosing(self._history(client, peer, min_id=min_id, offset_date=offset_date,
                                          before_wait=lambda: self._publish_upserts(batch, result))) as messages:
            async for message in messages:
                batch.append(message_payload(message, channel))
                stretch.add(message.id, message.date)
                if len(batch) >= _FLUSH_EVERY:
                    await self._publish_upserts(batch, result)
        await self._publish_upserts(batch, result)
        if stretch.last is not None and self._refused == refused:
            await self._publish_marker(peer, CoverageSource.TELEGRAM_BACKFILL, stretch)
        if (stretch.last or anchor) is not None and self._refused == refused:
            self._marked[peer.channel_id] = stretch.last or anchor  # where live coverage goes on from

    async def refetch(self, peer: ChannelPeer, start: datetime, end: datetime) -> int:
        """Publish every message of ``peer`` dated ``start..end`` (inclusive, aware; ``end`` is cut
        at now: later messages do not exist yet), then a ``range.completed`` marker
        (``telegram_backfill``) for the ids read and dates ``start..end``; return how many messages
        were published.

        Telegram's history is read oldest first from ``start`` up to the first message dated after
        ``end``, which is published too. A range without messages gets its ids from that message,
        or, when no message is dated at or after ``start``, from the chat's newest message.

        Raises:
            FloodWaitTooLong, RPCError, ValueError: Telegram refused; no marker was published.
            OSError: the connection failed mid-read; what was read is published, no marker.
            EmptyRange: ``start`` is in the future, or the chat has no message at all.
        """
        end = min(end, datetime.now(UTC))
        if start > end:
            raise EmptyRange(f"{start.isoformat()} is in the future: no message exists yet")
        channel = channel_payload(peer)
        result = ChannelResult(f"{peer.label} (fetch)", peer)
        batch: list[MessageUpsertedPayload] = []
        stretch, refused = Stretch(), self._refused
        async with aclosing(self._history(self.client, peer, offset_date=start - timedelta(seconds=1),
                                          before_wait=lambda: self._publish_upserts(batch, result))) as messages:
            async for message in messages:
                if message.date < start:
                    continue
                batch.append(message_payload(message, channel))
                stretch.add(message.id, message.date)
                if message.date > end:
                    break
                if len(batch) >= _FLUSH_EVERY:
                    await self._publish_upserts(batch, result)
        if stretch.last is None and (newest := await self._newest(peer)) is not None:
            batch.append(message_payload(newest, channel))
            stretch.add(newest.id, newest.date)
        await self._publish_upserts(batch, result)
        if stretch.last is None:
            raise EmptyRange(f"chat {peer.channel_id} has no message: nothing to mark")
        if self._refused != refused:
            raise ValueError(f"{self._refused - refused} message(s) of the range were refused (too large)")
        await self._publish_marker(peer, CoverageSource.TELEGRAM_BACKFILL, stretch, dates=(start, end))
        return result.published

    async def _newest(self, peer: ChannelPeer) -> TelegramMessage | None:
        """The chat's newest message (``None``: it has none)."""
        async with aclosing(self.client.iter_messages(peer)) as messages:
            async for message in messages:
                if isinstance(message, types.Message | types.MessageService):
                    return message
        return None

    async def _history(self, client: TelegramClient, peer: ChannelPeer, *, min_id: int = 0,
                       offset_date: datetime | None = None,
                       before_wait: Callable[[], Awaitable[None]]) -> AsyncIterator[TelegramMessage]:
        """Messages of ``peer`` after ``min_id`` (or dated after ``offset_date``), oldest first; a
        FloodWait within the budget is slept (``before_wait`` first) and the read resumes after the
        last message read."""
        cursor = min_id
        while True:
            try:
                history = client.iter_messages(peer, min_id=cursor, reverse=True,
                                               offset_date=None if cursor else offset_date)
                async with aclosing(history) as messages:
                    async for message in messages:
                        cursor = max(cursor, message.id)
                        if isinstance(message, types.Message | types.MessageService):
                            yield message
                return
            except FloodWaitError as exc:
                await before_wait()
                await self.flood.wait(exc.seconds, f"channel {peer.label}")

    # ------------------------------------------------------------------ reconcile and gaps

    async def reconcile(self, client: TelegramClient, peer: ChannelPeer, result: ChannelResult) -> None:
        """Re-fetch the most recent archived messages by id; publish edits and deletions missed while down."""
        window = self.settings.telegram_reconcile_window
        if not window:
            return
        async with self.pool.acquire() as conn:
            known = {r["message_id"]: (r["edit_date"], r["reactions"])
                     for r in await conn.fetch(_RECENT, peer.channel_id, window)}
        fetched = await self._fetch_by_id(client, peer, sorted(known))
        channel = channel_payload(peer)
        changed = []
        for message_id, message in fetched.items():
            if message is None:
                continue
            payload = message_payload(message, channel)
            if (payload.message.edit_date, payload.message.reactions) != known[message_id]:
                changed.append(payload)
        await self._publish_upserts(changed, result)
        if gone := [message_id for message_id, message in fetched.items() if message is None]:
            await self._publish_deletion(DeletedPayload(
                channel_id=peer.channel_id, message_ids=gone, deleted_at=datetime.now(UTC), detected_by="reconcile"))
            result.deleted += len(gone)
        log.info("channel %s reconciled: %d recent messages checked, %d changed, %d deleted",
                 peer.label, len(known), len(changed), len(gone))

    async def gaps(self, peer: ChannelPeer, *, refetch: bool = False, max_ids: int = 10_000) -> GapReport:
        """Report the id ranges missing in the archive of ``peer``; with ``refetch``, fetch them by id
        (at most ``max_ids``) and publish what Telegram still has. Nothing is invented for the rest.
        Each gap fetched whole then gets a ``range.completed`` marker (``telegram_backfill``) from the
        archived message before it to the one after it."""
        async with self.pool.acquire() as conn:
            report = GapReport(chat_id=peer.channel_id, gaps=await find_gaps(conn, peer.channel_id))
        if not refetch or not report.gaps:
            return report
        self._source = f"telegram:{await self.peers.account_id()}"
        ids = list(itertools.islice((i for first, last in report.gaps for i in range(first, last + 1)), max_ids))
        fetched = await self._fetch_by_id(self.client, peer, ids)
        channel = channel_payload(peer)
        found = [message_payload(m, channel) for m in fetched.values() if m is not None]
        result, refused = ChannelResult(peer.label, peer), self._refused
        await self._publish_upserts(found, result)
        report.recovered = result.published
        report.absent = [message_id for message_id, message in fetched.items() if message is None]
        if self._refused == refused:
            await self._mark_gaps(peer, [(first, last) for first, last in report.gaps if last in fetched])
        return report

    async def _mark_gaps(self, peer: ChannelPeer, gaps: list[tuple[int, int]]) -> None:
        """A marker per gap fetched whole: ids and dates of the archived messages around it."""
        async with self.pool.acquire() as conn:
            dates = dict(await conn.fetch(_DATES, peer.channel_id, [i for first, last in gaps for i in (first - 1,
                                                                                                      last + 1)]))
        for first, last in gaps:
            before, after = dates[first - 1], dates[last + 1]
            stretch = Stretch(first=(first - 1, min(before, after)), last=(last + 1, max(before, after)))
            await self._publish_marker(peer, CoverageSource.TELEGRAM_BACKFILL, stretch)

    async def _fetch_by_id(self, client: TelegramClient, peer: ChannelPeer, ids: Sequence[int]
                           ) -> dict[int, TelegramMessage | None]:
        """``{id: message or None}`` for ``ids`` (``None``: Telegram returned nothing for it)."""
        found: dict[int, TelegramMessage | None] = {}
        for chunk in _chunks(ids, _IDS_PER_REQUEST):
            messages = await self.flood.call(f"channel {peer.label}",
                                             lambda chunk=chunk: client.get_messages(peer, chunk))
            by_id = {m.id: m for m in messages if isinstance(m, types.Message | types.MessageService)}
            found.update((message_id, by_id.get(message_id)) for message_id in chunk)
        return found

    # ------------------------------------------------------------------ live

    async def _follow_and_serve(self, updates: asyncio.Queue, followed: dict[int, ChannelResult],
                                stop: asyncio.Event) -> None:
        """Follow live updates and serve fetch requests together, until ``stop`` or either fails."""
        peers = {chat_id: result.peer for chat_id, result in followed.items() if result.peer is not None}
        tasks = [asyncio.ensure_future(self._follow(updates, followed, stop)),
                 asyncio.ensure_future(serve_fetch_requests(self, peers, stop))]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # raises what ended it
            await asyncio.gather(*tasks)  # stop was set: the other one ends too
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def source(self) -> str:
        """The envelope ``source`` of what this collector publishes (``telegram:<account id>``)."""
        return self._source

    async def _follow(self, updates: asyncio.Queue, followed: dict[int, ChannelResult], stop: asyncio.Event) -> None:
        for result in followed.values():
            self._show(result, "[green]live[/green]")
        log.info("following %d channel(s) live", len(followed))
        lost = asyncio.ensure_future(self.client.wait_disconnected())
        stopped = asyncio.ensure_future(stop.wait())
        try:
            while True:
                getter = asyncio.ensure_future(updates.get())
                await asyncio.wait({getter, lost, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    await asyncio.gather(getter, return_exceptions=True)
                    if lost.done():
                        raise TelegramDisconnected(f"Telegram connection lost for good: {lost.exception()!r}")
                    return
                batch = [getter.result()]
                while not updates.empty():
                    batch.append(updates.get_nowait())
                await self._apply_live(batch, followed)
        finally:
            for task in (lost, stopped):
                task.cancel()
            await asyncio.gather(lost, stopped, return_exceptions=True)

    async def _apply_live(self, batch: list[object], followed: dict[int, ChannelResult]) -> None:
        """Publish a batch of raw updates in their order (upserts of a run together, each deletion alone)."""
        pending: list[tuple[MessageUpsertedPayload, ChannelResult]] = []

        async def flush() -> None:
            for result, group in itertools.groupby(pending, key=lambda item: item[1]):
                payloads = [payload for payload, _ in group]
                refused = self._refused
                await self._publish_upserts(list(payloads), result)
                if self._refused == refused and result.peer is not None:
                    await self._extend_live(result.peer, payloads)
            pending.clear()

        for update in batch:
            change = live_change(update, followed, datetime.now(UTC))
            if isinstance(change, DeletedPayload):
                await flush()
                await self._publish_deletion(change)
                if change.channel_id is not None:
                    followed[change.channel_id].deleted += len(change.message_ids)
            elif change is not None:
                result = followed[change.peer_id.channel_id]
                assert result.peer is not None
                pending.append((message_payload(change, channel_payload(result.peer)), result))
        await flush()

    # ------------------------------------------------------------------ publishing

    async def _publish_upserts(self, payloads: list[MessageUpsertedPayload], result: ChannelResult) -> None:
        """Publish ``payloads`` (acknowledged before returning) and empty the list."""
        if payloads:
            result.published += await publish_payloads(self.broker, self.settings, payloads, source=self._source,
                                                       on_acked=self.on_published, on_refused=self._on_refused)
            payloads.clear()
            self._show(result)

    async def _extend_live(self, peer: ChannelPeer, payloads: list[MessageUpsertedPayload]) -> None:
        """After a published live stretch: one ``telegram_live`` marker from the chat's last marked
        message to the stretch's newest, when it is newer (edits of older messages extend nothing)."""
        anchor = self._marked.get(peer.channel_id)
        newest = max((p.message.message_id, p.message.date) for p in payloads)
        if anchor is None or newest[0] <= anchor[0]:
            return
        stretch = Stretch(first=anchor, last=(newest[0], max(newest[1], anchor[1])))
        await self._publish_marker(peer, CoverageSource.TELEGRAM_LIVE, stretch)
        self._marked[peer.channel_id] = stretch.last

    async def _publish_marker(self, peer: ChannelPeer, source: CoverageSource, stretch: Stretch, *,
                              dates: tuple[datetime, datetime] | None = None) -> None:
        """Publish a ``range.completed`` marker after the stretch's messages (acknowledged already):
        same topic and key, so it follows them on the chat's partition."""
        assert stretch.first is not None and stretch.last is not None
        # Ids and dates of a chat rise together, but a marker must hold even where they do not.
        first_date, last_date = dates or sorted((stretch.first[1], stretch.last[1]))
        event = RangeCompleted(source=self._source, payload=RangeCompletedPayload(
            channel=channel_payload(peer), source=source, first_message_id=stretch.first[0],
            last_message_id=stretch.last[0], first_date=first_date, last_date=last_date))
        await (await publish_event(self.broker, self.settings.topic_messages, event))
        log.info("chat %s: ids %d..%d, %s..%s marked complete (%s)", peer.label, stretch.first[0], stretch.last[0],
                 first_date.isoformat(), last_date.isoformat(), source.value)

    def _on_refused(self, _event: MessageUpserted, _reason: str) -> None:
        self._refused += 1

    async def _publish_deletion(self, payload: DeletedPayload) -> None:
        event = MessageDeleted(source=self._source, payload=payload)
        await (await publish_event(self.broker, self.settings.topic_messages, event))
        log.info("published deletion of %d message(s) in %s", len(payload.message_ids),
                 payload.channel_id if payload.channel_id is not None else "an unresolved chat")

    def _show(self, result: ChannelResult, state: str | None = None) -> None:
        if self.progress is None:
            return
        if result.ref not in self._tasks:
            self._tasks[result.ref] = self.progress.add_task(result.ref, total=None, state="")
        fields = {"state": state} if state is not None else {}
        self.progress.update(self._tasks[result.ref], completed=result.published, **fields)
