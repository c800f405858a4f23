"""Resolve once, remember: channel peers come from PostgreSQL after the first resolution."""

from __future__ import annotations

import time

import pytest
from telethon.errors import FloodWaitError, UsernameNotOccupiedError

from tgpipe.telegram.flood import FloodBudget, FloodWaitTooLong
from tgpipe.telegram.peers import PeerDirectory
from tests.support.telegram import FakeTelegram, channel


async def test_resolutions_are_remembered_per_account_and_spaced(db):
    fake = FakeTelegram(account_id=1)
    fake.add_channel(channel(100, "News", "news"))
    fake.add_channel(channel(200, "Chat", "chat", megagroup=True))
    directory = PeerDirectory(db, fake, FloodBudget(0), min_interval_s=0.3)

    started = time.monotonic()
    news, chat = await directory.get("@News"), await directory.get("https://t.me/chat")
    assert time.monotonic() - started >= 0.3  # the second resolution waited for its turn
    assert (news.channel_id, news.type, chat.channel_id, chat.type) == (100, "public_channel", 200, "public_supergroup")

    # A restart (new directory) reads both back, by username or by id, without calling Telegram.
    restarted = PeerDirectory(db, fake, FloodBudget(0), min_interval_s=0.3)
    assert [await restarted.get(ref) for ref in ("news", "NEWS", "200", "-1000000000200")] == [news, news, chat, chat]
    assert restarted.resolutions == 0
    assert [c for c in fake.calls if c[0] == "resolve"] == [("resolve", "News"), ("resolve", "chat")]

    # Another account resolves for itself (access hashes are per account), by the remembered username.
    other = PeerDirectory(db, FakeTelegram(account_id=2), FloodBudget(0), min_interval_s=0)
    other._client.add_channel(channel(100, "News", "news"))
    assert (await other.for_channel(100)).channel_id == 100
    assert other._client.calls == [("resolve", "news")]
    async with db.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM channel_peers") == 3


async def test_resolution_flood_waits_draw_from_the_budget(db):
    fake = FakeTelegram()
    fake.add_channel(channel(100, "News", "news"))
    fake.fail("resolve", "news", FloodWaitError(request=None, capture=1))
    budget = FloodBudget(2)
    assert (await PeerDirectory(db, fake, budget, min_interval_s=0).get("@news")).channel_id == 100
    assert 1 <= budget.spent_s <= 2

    fake.fail("resolve", "gone", FloodWaitError(request=None, capture=3600))
    with pytest.raises(FloodWaitTooLong, match="3600 s"):
        await PeerDirectory(db, fake, budget, min_interval_s=0).get("@gone")
    with pytest.raises(UsernameNotOccupiedError):
        await PeerDirectory(db, fake, budget, min_interval_s=0).get("@nobody")
