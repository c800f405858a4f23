"""A fake Telegram behind tgpipe's Telegram interface: in-memory history of real Telethon objects.

:class:`FakeTelegram` implements :class:`tgpipe.telegram.client.TelegramClient` the way
Telegram behaves as seen through Telethon: it returns *copies* of ``telethon.tl.types`` objects
(serialized and read back, as from the network), checks access hashes and file references, and
raises Telethon's own errors (``FloodWaitError``, ``FileReferenceExpiredError``…) where a test
scripts them with :meth:`FakeTelegram.fail`. No network is involved.

Builders (:func:`channel`, :func:`post`, :func:`photo`, :func:`service`) make the objects.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from telethon.errors import ChannelInvalidError, FileReferenceExpiredError, UsernameNotOccupiedError
from telethon.extensions import BinaryReader
from telethon.tl import types

from tgpipe.telegram.client import ChannelPeer, TelegramMessage, UpdateHandler, channel_peer

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
JPEG = b"\xff\xd8\xff\xe0"


def copy(obj):
    """A deep copy of a TL object, as Telegram would send it again."""
    return None if obj is None else BinaryReader(obj._bytes()).tgread_object()


def channel(channel_id: int, title: str, username: str | None = None, *, megagroup: bool = False) -> types.Channel:
    """A channel (or supergroup) entity with a made-up access hash."""
    return types.Channel(id=channel_id, title=title, photo=types.ChatPhotoEmpty(), date=T0,
                         broadcast=not megagroup, megagroup=megagroup, access_hash=channel_id * 7919 + 3,
                         username=username)


def photo(photo_id: int, *, sizes: Sequence[types.TypePhotoSize] | None = None,
          video_sizes: Sequence[types.VideoSize] | None = None) -> types.Photo:
    """A photo: by default a stripped preview, a 320x240 ``m`` and a 1280x960 progressive ``y``."""
    return types.Photo(
        id=photo_id, access_hash=photo_id + 1, file_reference=b"ref-0", date=T0, dc_id=2,
        sizes=list(sizes) if sizes is not None else [
            types.PhotoStrippedSize("i", b"\x01\x28\x1e"), types.PhotoSize("m", 320, 240, 9_000),
            types.PhotoSizeProgressive("y", 1280, 960, [4_000, 30_000, 90_000])],
        video_sizes=list(video_sizes) if video_sizes else None)


def post(channel_id: int, message_id: int, text: str = "", *, seconds: int | None = None,
         from_user: int | None = None, reply_to: int | None = None, grouped_id: int | None = None,
         media: types.Photo | None = None, edit_date: datetime | None = None,
         reactions: dict[str, int] | None = None, entities: list | None = None) -> types.Message:
    """A message of ``channel_id``: a channel post, or a supergroup message ``from_user``.

    ``seconds`` after :data:`T0` (default: the message id); ``reactions`` as ``{emoji: count}``.
    """
    return types.Message(
        id=message_id, peer_id=types.PeerChannel(channel_id),
        date=T0 + timedelta(seconds=message_id if seconds is None else seconds), message=text,
        post=from_user is None, from_id=types.PeerUser(from_user) if from_user else None,
        reply_to=types.MessageReplyHeader(reply_to_msg_id=reply_to) if reply_to else None,
        grouped_id=grouped_id, media=types.MessageMediaPhoto(photo=media) if media else None,
        edit_date=edit_date, entities=entities, views=10, forwards=0,
        reactions=types.MessageReactions(results=[types.ReactionCount(types.ReactionEmoji(e), n)
                                                  for e, n in reactions.items()]) if reactions else None)


def service(channel_id: int, message_id: int, action: types.TypeMessageAction) -> types.MessageService:
    """A service message of a channel (e.g. ``MessageActionChannelCreate``)."""
    return types.MessageService(id=message_id, peer_id=types.PeerChannel(channel_id),
                                date=T0 + timedelta(seconds=message_id), action=action)


def photo_bytes(photo_id: int, size_type: str) -> bytes:
    """The bytes the fake serves for one size of one photo (distinct per photo and size)."""
    return JPEG + f"photo {photo_id} size {size_type} ".encode() * 8


class FakeTelegram:
    """In-memory Telegram for one account, implementing the ``TelegramClient`` interface.

    Attributes:
        calls: every interface call, as ``(name, *arguments)``, for assertions.
        reads: one entry per ``iter_messages`` call: ``(channel id, [(id, date) of each message it
            yielded])``, so a test sees which part of a history was read ("only the hole").
        takeouts: how many takeout sessions were opened.
    """

    def __init__(self, account_id: int = 4242) -> None:
        self.account = account_id
        self.channels: dict[int, types.Channel] = {}
        self.history: dict[int, dict[int, TelegramMessage]] = {}
        self.calls: list[tuple] = []
        self.reads: list[tuple[int, list[tuple[int, datetime]]]] = []
        self.takeouts = 0
        self._faults: list[tuple[str, object, BaseException]] = []
        self._expire_on_download: set[int] = set()
        self._handlers: list[UpdateHandler] = []
        self._disconnected = asyncio.Event()

    # ------------------------------------------------------------------ test setup

    def add_channel(self, entity: types.Channel, messages: Sequence[TelegramMessage] = ()) -> types.Channel:
        """Make ``entity`` known with its history."""
        self.channels[entity.id] = entity
        self.history.setdefault(entity.id, {})
        for message in messages:
            self.history[entity.id][message.id] = message
        return entity

    def peer(self, channel_id: int) -> ChannelPeer:
        """The peer this account resolves ``channel_id`` to."""
        return channel_peer(self.channels[channel_id])

    def fail(self, op: str, key: object, error: BaseException) -> None:
        """Raise ``error`` once, at the next matching call.

        ``op``/``key``: ``"iter"``/``(channel_id, message_id)`` (before yielding that message),
        ``"get"``/``channel_id``, ``"download"``/``photo_id``, ``"resolve"``/the reference.
        """
        self._faults.append((op, key, error))

    def expire_reference_at_next_download(self, photo_id: int) -> None:
        """At the next download of ``photo_id``, its file reference changes first: the message object
        the caller holds is stale (``FileReferenceExpiredError``); a re-fetched one works."""
        self._expire_on_download.add(photo_id)

    def _fault(self, op: str, key: object) -> None:
        for index, (fault_op, fault_key, error) in enumerate(self._faults):
            if fault_op == op and fault_key == key:
                del self._faults[index]
                raise error

    def _channel(self, peer: ChannelPeer) -> dict[int, TelegramMessage]:
        entity = self.channels.get(peer.channel_id)
        if entity is None or entity.access_hash != peer.access_hash:
            raise ChannelInvalidError(request=None)
        return self.history[peer.channel_id]

    # ------------------------------------------------------------------ the interface

    async def account_id(self) -> int:
        return self.account

    async def resolve(self, ref: str | int) -> ChannelPeer:
        self.calls.append(("resolve", ref))
        self._fault("resolve", ref)
        for entity in self.channels.values():
            if ref == entity.id or (isinstance(ref, str) and ref.lower() == (entity.username or "").lower()):
                return channel_peer(entity)
        raise UsernameNotOccupiedError(request=None)

    async def iter_messages(self, peer: ChannelPeer, *, min_id: int = 0, reverse: bool = False,
                            offset_date: datetime | None = None) -> AsyncIterator[TelegramMessage]:
        self.calls.append(("iter_messages", peer.channel_id, min_id, offset_date))
        history = self._channel(peer)
        ids = sorted((i for i in history if i > min_id), reverse=not reverse)
        read: list[tuple[int, datetime]] = []
        self.reads.append((peer.channel_id, read))
        for message_id in ids:
            message = history.get(message_id)
            if message is None or (offset_date is not None and message.date <= offset_date):
                continue
            self._fault("iter", (peer.channel_id, message_id))
            await asyncio.sleep(0)
            read.append((message_id, message.date))
            yield copy(message)

    async def get_messages(self, peer: ChannelPeer, ids: Sequence[int]) -> list[TelegramMessage | None]:
        self.calls.append(("get_messages", peer.channel_id, list(ids)))
        history = self._channel(peer)
        self._fault("get", peer.channel_id)
        return [copy(history.get(i)) for i in ids]

    async def download_photo(self, message: types.Message, size_type: str) -> bytes | None:
        held = message.media.photo
        self.calls.append(("download", held.id, size_type))
        self._fault("download", held.id)
        current = self._current_photo(held.id)
        if held.id in self._expire_on_download:
            self._expire_on_download.discard(held.id)
            current.file_reference = b"ref-" + str(int(current.file_reference[4:]) + 1).encode()
        if held.file_reference != current.file_reference:
            raise FileReferenceExpiredError(request=None)
        types_served = [s.type for s in current.sizes] + [v.type for v in current.video_sizes or []]
        return photo_bytes(held.id, size_type) if size_type in types_served else None

    def _current_photo(self, photo_id: int) -> types.Photo:
        for history in self.history.values():
            for message in history.values():
                media = getattr(message, "media", None)
                if isinstance(media, types.MessageMediaPhoto) and media.photo.id == photo_id:
                    return media.photo
        raise FileReferenceExpiredError(request=None)  # the photo is gone

    def add_update_handler(self, handler: UpdateHandler) -> None:
        self._handlers.append(handler)

    def remove_update_handler(self, handler: UpdateHandler) -> None:
        self._handlers.remove(handler)

    @asynccontextmanager
    async def takeout(self) -> AsyncIterator[FakeTelegram]:
        self.takeouts += 1
        yield self

    async def wait_disconnected(self) -> None:
        await self._disconnected.wait()

    async def close(self) -> None:
        self._disconnected.set()

    # ------------------------------------------------------------------ Telegram's side

    async def push(self, update: types.TypeUpdate) -> None:
        """Telegram changes something and sends ``update`` to every handler (like Telethon's dispatch)."""
        if isinstance(update, types.UpdateNewChannelMessage | types.UpdateEditChannelMessage):
            self.history[update.message.peer_id.channel_id][update.message.id] = update.message
        elif isinstance(update, types.UpdateDeleteChannelMessages):
            for message_id in update.messages:
                self.history.get(update.channel_id, {}).pop(message_id, None)
        for handler in list(self._handlers):
            await handler(copy(update))
