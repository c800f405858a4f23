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

A FloodWait beyond the account's budget, or a Telegram error about one channel (private,
banned, unknown username), stops that channel with its reason; the others go on. Other errors
(broker, database, lost connection) end the run: restart it, the cursor resumes from PostgreSQL.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Iterable, Sequence
from contextlib import aclosing, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated

import asyncpg
from faststream.kafka import KafkaBroker
from pydantic import ConfigDict, Field, computed_field
from pydantic.dataclasses import dataclass as pydantic_dataclass
from rich.progress import Progress, TaskID
from telethon.errors import FloodWaitError, RPCError
from telethon.tl import types

from schemas import DeletedPayload, MessageDeleted, MessageUpserted, MessageUpsertedPayload
from services.collector.publish import publish_payloads
from tgpipe.telegram.client import ChannelPeer, TelegramClient, TelegramMessage
from tgpipe.telegram.flood import FloodBudget, FloodWaitTooLong
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


_CURSOR = "SELECT coalesce(max(message_id), 0) FROM messages WHERE channel_id = $1"
_RECENT = """
SELECT message_id, edit_date, reactions FROM messages
WHERE channel_id = $1 AND deleted_at IS NULL ORDER BY message_id DESC LIMIT $2"""
_GAPS = """
SELECT message_id + 1 AS first, next_id - 1 AS last
FROM (SELECT message_id, lead(message_id) OVER (ORDER BY message_id) AS next_id
      FROM messages WHERE channel_id = $1) AS ids
WHERE next_id > message_id + 1 ORDER BY first"""


async def find_gaps(conn: asyncpg.Connection, chat_id: int) -> list[tuple[int, int]]:
    """Id ranges ``(first, last)`` missing between the lowest and highest archived id of a chat."""
    return [(r["first"], r["last"]) for r in await conn.fetch(_GAPS, chat_id)]


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
                await self._follow(updates, followed, stop or asyncio.Event())
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
            cursor = await conn.fetchval(_CURSOR, peer.channel_id)
        if cursor:
            self._show(result, "reconciling")
            await self.reconcile(client, peer, result)
        if from_id is not None:
            cursor, since = from_id - 1, None
        elif since is not None:
            cursor = 0
        self._show(result, "backfilling")
        await self.backfill(client, peer, result, min_id=cursor, offset_date=since)
        self._show(result, "backfilled")

    # ------------------------------------------------------------------ backfill

    async def backfill(self, client: TelegramClient, peer: ChannelPeer, result: ChannelResult, *,
                       min_id: int = 0, offset_date: datetime | None = None) -> None:
        """Publish every message of ``peer`` after ``min_id`` (or after ``offset_date``), oldest first.

        A FloodWait within the budget is slept and the history resumes after the last message
        read; beyond the budget :class:`FloodWaitTooLong` stops the channel (everything read
        before it is published).
        """
        channel = channel_payload(peer)
        batch: list[MessageUpsertedPayload] = []
        cursor = min_id
        while True:
            try:
                history = client.iter_messages(peer, min_id=cursor, reverse=True,
                                               offset_date=None if cursor else offset_date)
                async with aclosing(history) as messages:
                    async for message in messages:
                        if isinstance(message, types.Message | types.MessageService):
                            batch.append(message_payload(message, channel))
                        cursor = max(cursor, message.id)
                        if len(batch) >= _FLUSH_EVERY:
                            await self._publish_upserts(batch, result)
                await self._publish_upserts(batch, result)
                return
            except FloodWaitError as exc:
                await self._publish_upserts(batch, result)
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
        (at most ``max_ids``) and publish what Telegram still has. Nothing is invented for the rest."""
        async with self.pool.acquire() as conn:
            report = GapReport(chat_id=peer.channel_id, gaps=await find_gaps(conn, peer.channel_id))
        if not refetch or not report.gaps:
            return report
        self._source = f"telegram:{await self.peers.account_id()}"
        ids = list(itertools.islice((i for first, last in report.gaps for i in range(first, last + 1)), max_ids))
        fetched = await self._fetch_by_id(self.client, peer, ids)
        channel = channel_payload(peer)
        found = [message_payload(m, channel) for m in fetched.values() if m is not None]
        result = ChannelResult(peer.label, peer)
        await self._publish_upserts(found, result)
        report.recovered = result.published
        report.absent = [message_id for message_id, message in fetched.items() if message is None]
        return report

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
                await self._publish_upserts([payload for payload, _ in group], result)
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
                                                       on_acked=self.on_published)
            payloads.clear()
            self._show(result)

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
