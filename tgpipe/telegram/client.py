"""The small interface tgpipe needs from Telegram, and its implementation over Telethon.

Everything the collector and the media service do with Telegram goes through
:class:`TelegramClient`; :class:`TelethonClient` implements it by wrapping
``telethon.TelegramClient``. Tests implement the same Protocol with a fake that returns real
``telethon.tl.types`` objects, so the code above this interface runs unchanged against both.

Messages and updates cross the interface as Telethon's own TL objects (``types.Message``,
``types.MessageService``, ``types.UpdateEditChannelMessage``…); only peers are tgpipe's own
:class:`ChannelPeer` (channel id + access hash, which PostgreSQL remembers).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from telethon import TelegramClient as _Telethon
from telethon import events, utils
from telethon.tl import types
from telethon.tl.tlobject import TLObject

from schemas.vocabulary import ChatType
from tgpipe.errors import ConfigurationError

log = logging.getLogger(__name__)

TelegramMessage = types.Message | types.MessageService
UpdateHandler = Callable[[TLObject], Awaitable[None]]

#: The raw updates the collector follows. Telethon builds its ``events.NewMessage``,
#: ``events.MessageEdited`` and ``events.MessageDeleted`` from exactly these (channel updates carry
#: the channel id; ``UpdateDeleteMessages``, for private chats and basic groups, does not).
FOLLOWED_UPDATES = (types.UpdateNewChannelMessage, types.UpdateEditChannelMessage,
                    types.UpdateDeleteChannelMessages, types.UpdateDeleteMessages)


@dataclass(frozen=True, slots=True)
class ChannelPeer:
    """A resolved channel or supergroup: bare id and this account's access hash."""

    channel_id: int
    access_hash: int
    username: str | None = None
    title: str | None = None
    type: ChatType = ChatType.CHANNEL

    @property
    def label(self) -> str:
        """``@username`` or the bare id, for messages to the user."""
        return f"@{self.username}" if self.username else str(self.channel_id)


class TelegramClient(Protocol):
    """What tgpipe needs from Telegram. Errors are Telethon's (``FloodWaitError``,
    ``FileReferenceExpiredError``, ``ChannelPrivateError``…), raised unchanged."""

    async def account_id(self) -> int:
        """The logged-in user's id (access hashes are valid for this account only)."""

    async def resolve(self, ref: str | int) -> ChannelPeer:
        """Resolve ``@username`` / ``username`` / ``t.me/…`` or a bare channel id (one API call at most).

        Raises:
            ValueError: not a channel or supergroup, or unknown to this account.
        """

    def iter_messages(self, peer: ChannelPeer, *, min_id: int = 0, reverse: bool = False,
                      offset_date: datetime | None = None) -> AsyncIterator[TelegramMessage]:
        """Messages of ``peer`` newer than ``min_id`` (Telethon ``iter_messages``); with
        ``reverse=True`` oldest first, and ``offset_date`` means "after this date"."""

    async def get_messages(self, peer: ChannelPeer, ids: Sequence[int]) -> list[TelegramMessage | None]:
        """The messages with these ids, ``None`` for each one that does not exist (deleted)."""

    async def download_photo(self, message: types.Message, size_type: str) -> bytes | None:
        """Bytes of the photo size ``size_type`` (``PhotoSize.type``) of ``message``'s photo."""

    def add_update_handler(self, handler: UpdateHandler) -> None:
        """Call ``handler`` with every update of :data:`FOLLOWED_UPDATES` from now on."""

    def remove_update_handler(self, handler: UpdateHandler) -> None:
        """Stop calling ``handler``."""

    def takeout(self) -> AbstractAsyncContextManager[TelegramClient]:
        """A client whose requests run in a takeout session (lower flood limits for exports)."""

    async def wait_disconnected(self) -> None:
        """Return (or raise the connection error) once the client is disconnected for good."""

    async def close(self) -> None:
        """Disconnect."""


def channel_peer(entity: object) -> ChannelPeer:
    """A :class:`ChannelPeer` from a Telethon ``Channel`` entity (pure).

    Raises:
        ValueError: ``entity`` is a user, a basic group or a channel this account cannot access.
    """
    if not isinstance(entity, types.Channel) or entity.access_hash is None:
        kind = type(entity).__name__
        raise ValueError(f"not an accessible channel or supergroup ({kind}); only channels are collected")
    username = entity.username or next((u.username for u in entity.usernames or [] if u.active), None)
    if entity.megagroup:
        chat_type = ChatType.PUBLIC_SUPERGROUP if username else ChatType.PRIVATE_SUPERGROUP
    else:
        chat_type = ChatType.PUBLIC_CHANNEL if username else ChatType.PRIVATE_CHANNEL
    return ChannelPeer(entity.id, entity.access_hash, username, entity.title, chat_type)


def parse_channel_ref(ref: str) -> str | int:
    """``"@name"``/``"name"``/``"https://t.me/name"`` → ``"name"``; ``"123"`` or a marked
    ``"-1000000000123"`` (Bot API style) → the bare channel id ``123``.

    Raises:
        ValueError: a marked id of a basic group (``-123``): only channels are collected.
    """
    text = ref.strip()
    if text.lstrip("-").isdigit():
        number = int(text)
        if number >= 0:
            return number
        bare, peer_type = utils.resolve_id(number)
        if peer_type is not types.PeerChannel:
            raise ValueError(f"{ref} is a basic group; only channels and supergroups are collected")
        return bare
    for prefix in ("https://t.me/", "http://t.me/", "t.me/", "@"):
        text = text.removeprefix(prefix)
    return text.strip("/")


class TelethonClient:
    """:class:`TelegramClient` over a ``telethon.TelegramClient`` (connects on first use).

    The Telethon client is built with ``flood_sleep_threshold=0`` so that every FloodWait reaches
    tgpipe's own budget (:mod:`.flood`); reconnection stays Telethon's (``auto_reconnect``),
    logged by the ``telethon.network`` loggers.
    """

    def __init__(self, client: _Telethon, *, connected: bool = False) -> None:
        self._client = client
        self._ready = connected
        self._lock = asyncio.Lock()
        self._account_id: int | None = None
        self._handlers: dict[UpdateHandler, Callable] = {}

    async def _connect(self) -> _Telethon:
        async with self._lock:
            if not self._ready:
                await self._client.connect()
                if not await self._client.is_user_authorized():
                    await self._client.disconnect()
                    raise ConfigurationError("the Telegram session is not logged in (run `tgpipe login`)")
                self._ready = True
        return self._client

    async def account_id(self) -> int:
        if self._account_id is None:
            me = await (await self._connect()).get_me(input_peer=True)
            self._account_id = me.user_id
        return self._account_id

    async def resolve(self, ref: str | int) -> ChannelPeer:
        client = await self._connect()
        if isinstance(ref, int):
            try:
                return channel_peer(await client.get_entity(types.PeerChannel(ref)))
            except ValueError:
                # Not in the session's cache: the dialogs list carries the access hashes.
                await client.get_dialogs()
                return channel_peer(await client.get_entity(types.PeerChannel(ref)))
        return channel_peer(await client.get_entity(ref))

    @staticmethod
    def _input(peer: ChannelPeer) -> types.InputPeerChannel:
        return types.InputPeerChannel(peer.channel_id, peer.access_hash)

    async def iter_messages(self, peer: ChannelPeer, *, min_id: int = 0, reverse: bool = False,
                            offset_date: datetime | None = None) -> AsyncIterator[TelegramMessage]:
        client = await self._connect()
        async for message in client.iter_messages(self._input(peer), min_id=min_id, reverse=reverse,
                                                  offset_date=offset_date):
            yield message

    async def get_messages(self, peer: ChannelPeer, ids: Sequence[int]) -> list[TelegramMessage | None]:
        client = await self._connect()
        return list(await client.get_messages(self._input(peer), ids=list(ids)))

    async def download_photo(self, message: types.Message, size_type: str) -> bytes | None:
        # An explicit size type: Telethon's default would pick a VideoSize over every PhotoSize.
        return await (await self._connect()).download_media(message, file=bytes, thumb=size_type)

    def add_update_handler(self, handler: UpdateHandler) -> None:
        self._handlers[handler] = handler
        self._client.add_event_handler(handler, events.Raw(types=list(FOLLOWED_UPDATES)))

    def remove_update_handler(self, handler: UpdateHandler) -> None:
        self._client.remove_event_handler(self._handlers.pop(handler))

    @asynccontextmanager
    async def takeout(self) -> AsyncIterator[TelethonClient]:
        client = await self._connect()
        async with client.takeout(finalize=True, channels=True, megagroups=True) as takeout:
            inner = TelethonClient(takeout, connected=True)
            inner._account_id = self._account_id
            yield inner

    async def wait_disconnected(self) -> None:
        await (await self._connect()).disconnected

    async def close(self) -> None:
        if self._ready:
            await self._client.disconnect()
            self._ready = False
