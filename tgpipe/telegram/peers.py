"""Resolve once, remember: channel references → :class:`ChannelPeer`, kept in ``channel_peers``.

Resolving a username is one of Telegram's most rate-limited calls, and an access hash is valid
for one account only. So a channel is resolved once per account and its id, access hash,
username, title and type are stored in PostgreSQL (``channel_peers``, key ``(account_id,
channel_id)``); every later start reads them back without calling Telegram. The calls that do
happen are spaced by ``telegram_resolve_interval_s`` and their FloodWaits drawn from the
account's :class:`~.flood.FloodBudget`.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg

from tgpipe.telegram.client import ChannelPeer, TelegramClient, parse_channel_ref
from tgpipe.telegram.flood import FloodBudget

_BY_USERNAME = """
SELECT channel_id, access_hash, username, title, type FROM channel_peers
WHERE account_id = $1 AND lower(username) = lower($2)"""
_BY_ID = """
SELECT channel_id, access_hash, username, title, type FROM channel_peers WHERE account_id = $1 AND channel_id = $2"""
_ANY_USERNAME = """
SELECT username FROM channel_peers WHERE channel_id = $1 AND username IS NOT NULL ORDER BY resolved_at DESC LIMIT 1"""
# A username can move to another channel: the older holder forgets it first.
_RELEASE_USERNAME = """
UPDATE channel_peers SET username = NULL
WHERE account_id = $1 AND lower(username) = lower($2) AND channel_id <> $3"""
_REMEMBER = """
INSERT INTO channel_peers (account_id, channel_id, access_hash, username, title, type)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (account_id, channel_id) DO UPDATE SET
    access_hash = EXCLUDED.access_hash, username = EXCLUDED.username, title = EXCLUDED.title,
    type = EXCLUDED.type, resolved_at = now()"""


class PeerDirectory:
    """Channel peers of one account: PostgreSQL first, Telegram (rate-limited) only when unknown."""

    def __init__(self, pool: asyncpg.Pool, client: TelegramClient, flood: FloodBudget,
                 min_interval_s: float) -> None:
        self._pool = pool
        self._client = client
        self._flood = flood
        self._min_interval_s = min_interval_s
        self._last_call = float("-inf")
        self._lock = asyncio.Lock()
        self._account_id: int | None = None
        #: Telegram resolutions made by this directory (restarts should make none).
        self.resolutions = 0

    async def account_id(self) -> int:
        """The client's account id (cached)."""
        if self._account_id is None:
            self._account_id = await self._client.account_id()
        return self._account_id

    async def get(self, ref: str | int) -> ChannelPeer:
        """The peer for a user-given reference (``@name``, ``name``, ``t.me/name``, id or ``-100`` id).

        Raises:
            ValueError: Telegram does not know it as a channel this account can read.
            FloodWaitTooLong: resolution needs a wait beyond the flood budget.
            telethon.errors.RPCError: Telegram refused otherwise (``UsernameNotOccupiedError``…).
        """
        parsed = parse_channel_ref(ref) if isinstance(ref, str) else ref
        account = await self.account_id()
        query = _BY_ID if isinstance(parsed, int) else _BY_USERNAME
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(query, account, parsed)
        if row is not None:
            return ChannelPeer(*row)
        return await self._resolve(parsed)

    async def for_channel(self, channel_id: int) -> ChannelPeer:
        """The peer of an archived channel for this account: remembered, else resolved by the
        username another account remembered, else by id (works when the session knows it)."""
        account = await self.account_id()
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(_BY_ID, account, channel_id)
            username = None if row else await conn.fetchval(_ANY_USERNAME, channel_id)
        if row is not None:
            return ChannelPeer(*row)
        return await self._resolve(username or channel_id)

    async def _resolve(self, ref: str | int) -> ChannelPeer:
        async def spaced_call() -> ChannelPeer:
            await asyncio.sleep(max(self._last_call + self._min_interval_s - time.monotonic(), 0))
            self._last_call = time.monotonic()
            self.resolutions += 1
            return await self._client.resolve(ref)

        async with self._lock:
            peer = await self._flood.call(f"resolving {ref}", spaced_call)
        account = await self.account_id()
        async with self._pool.acquire() as conn, conn.transaction():
            if peer.username:
                await conn.execute(_RELEASE_USERNAME, account, peer.username, peer.channel_id)
            await conn.execute(_REMEMBER, account, peer.channel_id, peer.access_hash, peer.username, peer.title,
                               peer.type)
        return peer
