"""Photos of Telegram-sourced messages (``MediaRef.source == "telegram"``), through the Telegram interface.

For each photo reference of a committed message:

1. no Telegram client configured → status ``no_telegram_client`` (a later replay with a session
   replaces it);
2. **dedupe by Telegram photo id** before downloading: a photo already stored (in this batch, or
   in ``media`` with its file present) is reused, nothing is downloaded;
3. **re-fetch the message** right before downloading, so the file reference is fresh, and pick
   its largest real photo size (:func:`~tgpipe.telegram.photos.largest_photo_size`,
   never a ``VideoSize``);
4. download, retrying with a cap (``telegram_media_max_attempts``): ``FileReferenceExpiredError``
   → re-fetch the message and retry at once; ``FloodWaitError`` → a bounded wait from the
   account's budget; transient network and server errors → exponential backoff with jitter;
5. store atomically and content-addressed (:class:`~services.media.store.ContentStore`: identical
   bytes are stored once, the sha256 dedupe after downloading).

Every row records ``attempts`` (tries made) and its final status: ``stored``, ``missing`` (the
message or its photo is gone from Telegram), ``skipped`` (a kind not downloaded; only photos are
downloaded from Telegram), ``failed`` (``error`` says why) or ``no_telegram_client``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Callable, Iterable

import asyncpg
from telethon.errors import (
    FileReferenceExpiredError,
    FloodWaitError,
    RPCError,
    RpcCallFailError,
    ServerError,
)
from telethon.tl import types

from schemas import MediaRef, MessageCommitted
from schemas.vocabulary import MediaKind, MediaStatus
from tgpipe.telegram.client import TelegramClient
from tgpipe.telegram.flood import FloodBudget, FloodWaitTooLong
from tgpipe.telegram.photos import largest_photo_size
from tgpipe.telegram.peers import PeerDirectory
from services.media.persist import MediaRow
from services.media.store import ContentStore
from tgpipe.settings import Settings

log = logging.getLogger(__name__)

#: Errors a later try may not see again (Telegram's internal errors, network trouble).
TRANSIENT = (ServerError, RpcCallFailError, OSError, TimeoutError)
NO_CLIENT = ("no Telegram session is configured for the media service "
             "(set TGPIPE_TELEGRAM_SESSION or run `tgpipe login`); replay to download later")
_KNOWN_PHOTO = f"""
SELECT sha256, size_bytes, width, height FROM media
WHERE telegram_photo_id = $1 AND status = '{MediaStatus.STORED}' ORDER BY channel_id, message_id LIMIT 1"""


class TelegramPhotos:
    """Turns the Telegram photo references of committed messages into media rows.

    Args:
        client: the Telegram interface, or ``None`` when no session is configured.
        pool: returns the open asyncpg pool (dedupe by photo id, ``channel_peers``).
        flood: this process's FloodWait budget (default: ``telegram_flood_budget_s``).
    """

    backoff_initial_s = 0.5
    backoff_max_s = 30.0

    def __init__(self, client: TelegramClient | None, store: ContentStore, settings: Settings,
                 pool: Callable[[], asyncpg.Pool], *, flood: FloodBudget | None = None) -> None:
        self.client = client
        self.store = store
        self.settings = settings
        self._pool = pool
        self.flood = flood or FloodBudget(settings.telegram_flood_budget_s)
        self._peers: PeerDirectory | None = None

    async def rows(self, events: Iterable[MessageCommitted]) -> list[MediaRow]:
        """One row per Telegram media reference of ``events``, in order."""
        stored_photos: dict[int, MediaRow] = {}
        rows = []
        for event in events:
            for ref in event.payload.media:
                if ref.source == "telegram":
                    rows.append(await self._row(event.payload.channel_id, event.payload.message_id, ref,
                                                stored_photos))
        return rows

    async def _row(self, channel_id: int, message_id: int, ref: MediaRef, stored_photos: dict[int, MediaRow]
                   ) -> MediaRow:
        row = MediaRow(channel_id=channel_id, message_id=message_id, kind=ref.kind, status=MediaStatus.SKIPPED,
                       size_bytes=ref.file_size, mime_type=ref.mime_type, width=ref.width, height=ref.height,
                       telegram_photo_id=ref.photo_id, attempts=0)
        if ref.kind not in self.settings.media_download_kinds:
            return row
        if ref.kind != MediaKind.PHOTO:
            return dataclasses.replace(row, error="only photos are downloaded from Telegram")
        if self.client is None:
            return dataclasses.replace(row, status=MediaStatus.NO_TELEGRAM_CLIENT, error=NO_CLIENT)
        if ref.photo_id is not None and (known := await self._known_photo(ref.photo_id, stored_photos)):
            return dataclasses.replace(known, channel_id=channel_id, message_id=message_id, attempts=0)
        row = await self._download(self.client, row)
        if row.status == MediaStatus.STORED and row.telegram_photo_id is not None:
            stored_photos[row.telegram_photo_id] = row
        return row

    async def _known_photo(self, photo_id: int, stored_photos: dict[int, MediaRow]) -> MediaRow | None:
        if photo_id in stored_photos:
            return stored_photos[photo_id]
        async with self._pool().acquire() as conn:
            found = await conn.fetchrow(_KNOWN_PHOTO, photo_id)
        if found is None or not self.store.path_for(found["sha256"]).exists():
            return None
        return MediaRow(channel_id=0, message_id=0, kind=MediaKind.PHOTO, status=MediaStatus.STORED,
                        sha256=found["sha256"], size_bytes=found["size_bytes"], mime_type="image/jpeg",
                        width=found["width"], height=found["height"], telegram_photo_id=photo_id)

    def _peer_directory(self, client: TelegramClient) -> PeerDirectory:
        if self._peers is None:
            self._peers = PeerDirectory(self._pool(), client, self.flood, self.settings.telegram_resolve_interval_s)
        return self._peers

    async def _download(self, client: TelegramClient, row: MediaRow) -> MediaRow:
        """Re-fetch, download and store the photo of ``row``'s message; the row says how it ended."""
        what = f"photo of message {row.message_id} in channel {row.channel_id}"
        try:
            peer = await self._peer_directory(client).for_channel(row.channel_id)
        except (FloodWaitTooLong, RPCError, ValueError) as exc:
            return dataclasses.replace(row, status=MediaStatus.FAILED, error=f"cannot resolve the channel: {exc}")
        message, size, error = None, None, None
        for attempt in range(1, self.settings.telegram_media_max_attempts + 1):
            row = dataclasses.replace(row, attempts=attempt)
            try:
                if message is None:  # fetched right before downloading: a fresh file reference
                    message = next(iter(await client.get_messages(peer, [row.message_id])), None)
                    media = getattr(message, "media", None)
                    photo = media.photo if isinstance(media, types.MessageMediaPhoto) else None
                    if not isinstance(message, types.Message):
                        return dataclasses.replace(row, status=MediaStatus.MISSING,
                                                   error="the message is no longer on Telegram")
                    if (size := largest_photo_size(photo)) is None:
                        return dataclasses.replace(row, status=MediaStatus.MISSING,
                                                   error="the message has no photo any more")
                    row = dataclasses.replace(row, telegram_photo_id=photo.id, width=size.w, height=size.h)
                assert size is not None
                data = await client.download_photo(message, size.type)
                if not data:
                    return dataclasses.replace(row, status=MediaStatus.MISSING, error="Telegram returned no bytes")
                digest = await asyncio.to_thread(self.store.put, data)
                return dataclasses.replace(row, status=MediaStatus.STORED, sha256=digest, size_bytes=len(data),
                                           mime_type="image/jpeg", error=None)
            except FileReferenceExpiredError as exc:
                error, message = exc, None
                log.info("%s: file reference expired, fetching the message again", what)
            except FloodWaitError as exc:
                error = exc
                try:
                    await self.flood.wait(exc.seconds, what)
                except FloodWaitTooLong as too_long:
                    return dataclasses.replace(row, status=MediaStatus.FAILED, error=str(too_long))
            except TRANSIENT as exc:
                error = exc
                delay = min(self.backoff_initial_s * 2 ** (attempt - 1), self.backoff_max_s)
                log.warning("%s: %s (attempt %d), retrying in %.1f s", what, exc, attempt, delay)
                await asyncio.sleep(delay * random.uniform(1.0, 1.25))
            except (RPCError, ValueError) as exc:
                return dataclasses.replace(row, status=MediaStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
        return dataclasses.replace(row, status=MediaStatus.FAILED,
                                   error=f"gave up after {row.attempts} attempts: {type(error).__name__}: {error}")
