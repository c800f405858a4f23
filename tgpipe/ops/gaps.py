"""``tgpipe collector gaps``: missing message-id ranges per archived chat, optionally re-fetched, and
each chat's coverage and its holes (:mod:`tgpipe.ops.coverage`).

Source: the ``messages``, ``channel_peers`` and ``coverage`` tables; with a Telegram client, the missing ids
are fetched by id through :class:`services.collector.telegram.collector.TelegramCollector`
(Telegram channels only: the chats the live collector follows).
"""

from __future__ import annotations

import asyncpg

from services.collector.telegram.collector import GapReport, TelegramCollector, find_gaps
from tgpipe.db import create_pool
from tgpipe.kafka.broker import make_broker
from tgpipe.ops.coverage import CoverageResult, coverage_of
from tgpipe.ops.errors import UnknownChannelError
from tgpipe.ops.results import Result
from tgpipe.settings import Settings
from tgpipe.telegram.client import TelegramClient, parse_channel_ref

_BY_USERNAME = "SELECT channel_id FROM channel_peers WHERE lower(username) = lower($1) LIMIT 1"
_ALL_CHATS = "SELECT channel_id FROM channels ORDER BY 1"


class Gaps(Result):
    """What ``tgpipe collector gaps`` found: one :class:`GapReport` per chat, in the order asked
    (``chat_id`` order for all chats); ``refetched`` when the missing ids were fetched from Telegram
    (then ``recovered`` and ``absent`` say what it still had); ``coverage``: each of those chats'
    covered id and date ranges and their holes, in the same order."""

    refetched: bool
    chats: list[GapReport]
    coverage: list[CoverageResult]


async def chat_ids(conn: asyncpg.Connection, refs: list[str]) -> list[int]:
    """The chat ids of ``refs`` (@username, t.me link or id), or of every archived chat when empty.

    Raises:
        UnknownChannelError: a username this archive never resolved.
    """
    if not refs:
        return [r["channel_id"] for r in await conn.fetch(_ALL_CHATS)]
    ids = []
    for ref in refs:
        parsed = parse_channel_ref(ref)
        found = parsed if isinstance(parsed, int) else await conn.fetchval(_BY_USERNAME, parsed)
        if found is None:
            raise UnknownChannelError(f"{ref}: never resolved here; run the collector on it first")
        ids.append(found)
    return ids


async def gaps(settings: Settings, client: TelegramClient | None, refs: list[str]) -> Gaps:
    """The gaps of each chat of ``refs`` (all archived chats when empty); with ``client``, the
    missing ids are re-fetched from Telegram and published (needs the broker). The client is
    closed on return.

    Raises:
        UnknownChannelError: see :func:`chat_ids`.
    """
    pool = await create_pool(settings.database_url, max_size=2)
    broker = make_broker(settings, client_id="tgpipe-collector") if client else None
    try:
        async with pool.acquire() as conn:
            ids = await chat_ids(conn, refs)
            if client is None:
                return Gaps(refetched=False,
                            chats=[GapReport(chat_id=i, gaps=await find_gaps(conn, i)) for i in ids],
                            coverage=[await coverage_of(conn, i) for i in ids])
        await broker.start()
        collector = TelegramCollector(client, broker, settings, pool)
        chats = [await collector.gaps(await collector.peers.for_channel(i), refetch=True) for i in ids]
        async with pool.acquire() as conn:  # after the re-fetch: what the writer recorded by now
            return Gaps(refetched=True, chats=chats, coverage=[await coverage_of(conn, i) for i in ids])
    finally:
        if broker is not None:
            await broker.stop()
        await pool.close()
        if client is not None:
            await client.close()
