"""``tgpipe replay`` rebuilds the archive's exact state from the messages topic.

* Replaying into an empty database gives the original archive's digest (both shared exports), and
  replaying again into that database changes not one stored value (volatile columns included).
* The digest does not depend on the topic's partition count (1 or 3) nor on the writer replicas
  (1 or 2): checked on both shared exports together with a multi-chat export whose senders write
  in several chats under different names at different dates (the case where "the last write wins"
  would depend on how partitions interleave).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from schemas import ChannelPayload, MessagePayload, MessageUpsertedPayload, SenderPayload
from services.collector.publish import publish_payloads
from tests.support.broker import topic_settings
from tests.support.database import fresh_database
from tests.support.factories import EXPORTS
from tests.support.env import settings_env as _env
from tgpipe.ops.archive import archive
from tgpipe.ops.exports import open_export
from tgpipe.kafka.broker import make_broker
from tgpipe.cli import app
from tgpipe.db import create_pool
from tgpipe.ops.replay import ReplayError, parse_offsets, replay_settings, replay_topic
from tgpipe.settings import Settings
from tgpipe.ops.verify import table_digest

pytestmark = pytest.mark.e2e

IDLE_S = 3.0  # above the test broker's rebalance pause (session timeout 2 s)


async def _digest(database_url: str, *, include_volatile: bool = False) -> dict:
    pool = await create_pool(database_url, max_size=1)
    try:
        async with pool.acquire() as conn:
            return await table_digest(conn, include_volatile=include_volatile)
    finally:
        await pool.close()


def _group() -> str:
    return f"replay-{uuid.uuid4().hex[:8]}"


def _stored_files(root: Path) -> set[str]:
    return {p.name for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("name", sorted(EXPORTS))
async def test_contract_R1_replay_into_an_empty_database_gives_the_archive_then_changes_nothing(
        settings, shared_data, postgres_url, tmp_path, name):
    settings = settings.model_copy(update={"export_timezone": EXPORTS[name]})
    summary = await archive(settings, shared_data / name)
    original = await _digest(settings.database_url)
    assert original["messages"]["rows"] == summary.published
    assert original["coverage"]["rows"] == len(summary.coverage) == 1  # the ledger is rebuilt too (C1)

    async with fresh_database(postgres_url, None) as target:  # empty: replay migrates it
        replica = settings.model_copy(update={"media_root": tmp_path / "replayed-media"})
        first = await replay_topic(replay_settings(replica, _group(), target), idle_s=IDLE_S)
        assert first.digest == original
        assert first.messages == first.media == summary.published
        assert _stored_files(replica.media_dir) == _stored_files(settings.media_dir)  # photos stored again

        every_value = await _digest(target, include_volatile=True)
        second = await replay_topic(replay_settings(replica, _group(), target), idle_s=IDLE_S)
        assert second.digest == original
        assert await _digest(target, include_volatile=True) == every_value


# --------------------------------------------------------------------------- partitions and replicas

T0 = datetime(2024, 1, 1, tzinfo=UTC)
SENDERS = {1: "Ann", 2: "Bob", 3: "Cy"}


def _shared_senders_payloads() -> list[MessageUpsertedPayload]:
    """Six chats, three senders writing in all of them; a sender's name changes with time, and the
    chat published first holds each sender's newest message (name ``<name> (newest)``)."""
    payloads = []
    for chat in range(6):
        channel = ChannelPayload(channel_id=900_000 + chat, type="public_supergroup", title=f"group {chat}")
        for n in range(40):
            peer = n % 3 + 1
            date = T0 + timedelta(days=(5 - chat) * 100 + n)  # chat 0 is the newest
            name = f"{SENDERS[peer]} (newest)" if chat == 0 else f"{SENDERS[peer]} ({chat})"
            message = MessagePayload(channel_id=channel.channel_id, message_id=n + 1, kind="message",
                                     date=date,
                                     sender=SenderPayload(peer_type="user", peer_id=peer, name=name),
                                     text=f"{name} says {n}", raw={"id": n + 1})
            payloads.append(MessageUpsertedPayload(channel=channel, message=message))
    return payloads


@pytest.fixture(scope="module")
def replay_input(shared_data) -> list[MessageUpsertedPayload]:
    payloads = _shared_senders_payloads()
    for name, zone in sorted(EXPORTS.items()):
        payloads += open_export(shared_data / name, Settings(export_timezone=zone)).payloads()
    return payloads


async def _publish(settings, payloads) -> int:
    broker = make_broker(settings, client_id="tgpipe-collector")
    await broker.start()
    try:
        return await publish_payloads(broker, settings, payloads, source="test:replay")
    finally:
        await broker.stop()


async def test_contract_R2_digest_is_the_same_for_1_or_3_partitions_and_1_or_2_writers(
        replay_input, postgres_url, kafka, tmp_path):
    digests = {}
    for partitions, writers in [(1, 1), (3, 1), (3, 2)]:
        async with fresh_database(postgres_url, None) as target, \
                topic_settings(target, kafka, tmp_path / f"p{partitions}w{writers}",
                               partitions=partitions) as settings:
            assert await _publish(settings, replay_input) == len(replay_input)
            result = await replay_topic(replay_settings(settings, _group()), idle_s=IDLE_S, writers=writers)
            assert result.messages == len(replay_input)
            assert all(result.batches_per_writer), result.batches_per_writer  # every replica did some work
            pool = await create_pool(target, max_size=1)
            try:
                names = dict(await pool.fetch("SELECT peer_id, name FROM senders WHERE peer_id = ANY($1)",
                                              list(SENDERS)))
            finally:
                await pool.close()
        assert names == {peer: f"{name} (newest)" for peer, name in SENDERS.items()}, (partitions, writers)
        digests[partitions, writers] = result.digest
    assert digests[1, 1] == digests[3, 1] == digests[3, 2], {k: v["all"] for k, v in digests.items()}


# --------------------------------------------------------------------------- the command


def test_parse_offsets():
    assert parse_offsets("120") == 120
    assert parse_offsets("0:120,2:40") == {0: 120, 2: 40}
    for bad in ("", "-1", "0:", "a:1", "1:2:3", "0:1;1:2"):
        with pytest.raises(ValueError):
            parse_offsets(bad)


def test_replay_command(settings, tmp_path):
    """`tgpipe replay` on a small archive: the digest it prints is the archive's; a used group is refused."""
    export = tmp_path / "export"
    export.mkdir()
    messages = [{"id": i, "type": "message", "date_unixtime": str(1704103200 + i), "date": "x", "from": "A",
                 "from_id": "user1", "text": f"m{i}"} for i in range(1, 6)]
    (export / "result.json").write_text(json.dumps({"name": "C", "type": "public_channel", "id": 5,
                                                    "messages": messages}))
    env = _env(settings)
    runner = CliRunner()
    assert runner.invoke(app, ["archive", "--export", str(export)], env=env).exit_code == 0
    verified = runner.invoke(app, ["verify", "--digest", "--json"], env=env)
    digest = json.loads(verified.output)["digest"]
    assert set(digest["messages"]["excluded"]) == {"source_event_id", "archived_at"}
    assert digest["channels"]["excluded"] == [] and digest["media"]["excluded"] == ["updated_at"]
    human = runner.invoke(app, ["verify", "--digest"], env=env)
    assert f"digest messages: {digest['messages']['sha256']} (5 rows; excluding " in human.output

    group = _group()
    result = runner.invoke(app, ["replay", "--group", group, "--idle-seconds", str(IDLE_S), "--json"],
                           env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["digest"] == digest

    again = runner.invoke(app, ["replay", "--group", group], env=env)
    assert again.exit_code == 1 and "already has committed offsets" in again.output


async def test_replay_from_an_offset_until_an_offset(postgres_url, kafka, tmp_path):
    """--from 2 --until-offset 0:4 on a one-partition topic: messages 3 and 4 are written, 1 and 2 are not
    (--until-offset is when to stop, not a filter: later records of the last batch are written too)."""
    async with fresh_database(postgres_url, None) as target, \
            topic_settings(target, kafka, tmp_path, partitions=1) as one:
        payloads = [p for p in _shared_senders_payloads() if p.channel.channel_id == 900_000][:6]
        await _publish(one, payloads)
        result = await replay_topic(replay_settings(one, _group()), start=2, until={0: 4})
        pool = await create_pool(target, max_size=1)
        try:
            written = [r[0] for r in await pool.fetch("SELECT message_id FROM messages ORDER BY 1")]
            assert written[:2] == [3, 4] and result.messages == len(written)
        finally:
            await pool.close()
        with pytest.raises(ReplayError, match="has no partition"):
            await replay_topic(replay_settings(one, _group()), start={5: 0})
