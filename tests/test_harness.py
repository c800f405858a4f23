"""The test harness itself: per-test migrated databases, per-test topics on a working broker."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from alembic.script import ScriptDirectory

from tests.support.database import database_url_for
from tgpipe.kafka.broker import consumer_options
from tgpipe.db.migrations import alembic_config
from tgpipe.settings import Settings

TABLES = {"channels", "senders", "messages", "media", "message_versions", "channel_peers", "unresolved_deletions",
          "message_deletions", "coverage", "archive_checkpoints"}


async def test_database_is_migrated_and_enforces_foreign_keys(db: asyncpg.Pool) -> None:
    tables = {row["table_name"] for row in await db.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")}
    assert tables - {"alembic_version"} == TABLES
    head = ScriptDirectory.from_config(alembic_config("postgresql://unused")).get_current_head()
    assert await db.fetchval("SELECT version_num FROM alembic_version") == head

    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await db.execute(
            "INSERT INTO messages (channel_id, message_id, kind, date, raw, source_event_id)"
            " VALUES ($1, $2, 'message', $3, $4, $5)",
            404, 1, datetime(2024, 1, 1, tzinfo=UTC), {"id": 1}, uuid.uuid4(),
        )


_seen_databases: list[str] = []


@pytest.mark.parametrize("run", [1, 2])
async def test_each_test_has_its_own_database(db: asyncpg.Pool, settings: Settings, run: int) -> None:
    name = await db.fetchval("SELECT current_database()")
    assert name.startswith("tgpipe_t_")
    assert settings.database_url is not None and f"/{name}" in settings.database_url
    # Empty although the other run wrote to its own database.
    assert await db.fetchval("SELECT count(*) FROM channels") == 0
    await db.execute("INSERT INTO channels (channel_id, type) VALUES (1, 'channel')")
    assert name not in _seen_databases
    _seen_databases.append(name)


def test_database_url_for_replaces_only_the_database() -> None:
    assert (database_url_for("postgresql://postgres@127.0.0.1:5432/postgres", "tgpipe_t_1")
            == "postgresql://postgres@127.0.0.1:5432/tgpipe_t_1")
    assert (database_url_for("postgresql://u:p%40ss@db.example:6543", "x")
            == "postgresql://u:p%40ss@db.example:6543/x")
    assert (database_url_for("postgresql://postgres:@/postgres?host=/tmp/pg%20data/pgdata", "x")
            == "postgresql://postgres:@/x?host=/tmp/pg+data/pgdata")
    assert (database_url_for("postgresql:///postgres?host=/run/pg&dbname=postgres&sslmode=disable", "x")
            == "postgresql:///x?host=/run/pg&sslmode=disable")


async def test_kafka_round_trip_on_the_test_topic(settings: Settings) -> None:
    assert settings.topic_messages.startswith("t") and settings.writer_group.startswith("w-")
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_idempotence=settings.kafka_enable_idempotence,
        acks="all",
    )
    await producer.start()
    try:
        assert await producer.partitions_for(settings.topic_messages) == {0, 1, 2}
        sent = {f"key-{i}".encode(): f"value-{i}".encode() for i in range(30)}
        results = await asyncio.gather(*[
            await producer.send(settings.topic_messages, value, key=key) for key, value in sent.items()
        ])
    finally:
        await producer.stop()
    assert len({metadata.partition for metadata in results}) > 1

    consumer = AIOKafkaConsumer(
        settings.topic_messages,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=settings.writer_group,
        enable_auto_commit=False,
        **consumer_options(settings),  # auto_offset_reset="earliest", the group timeouts
    )
    await consumer.start()
    try:
        received: dict[bytes, bytes] = {}
        async with asyncio.timeout(60):
            while len(received) < len(sent):
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    received.update((record.key, record.value) for record in records)
        await consumer.commit()
        assigned = {tp.partition for tp in consumer.assignment() if tp.topic == settings.topic_messages}
        assert assigned == {0, 1, 2}
    finally:
        await consumer.stop()
    assert received == sent


def test_developer_tgpipe_variables_do_not_reach_settings() -> None:
    assert [name for name in os.environ if name.startswith("TGPIPE_")] == []
    defaults = Settings()
    assert (defaults.database_url, defaults.kafka_bootstrap_servers, defaults.writer_group) == (
        None, None, "tgpipe-writer")


async def test_loop_exceptions_are_recorded_for_the_test(loop_exceptions: list[dict[str, object]]) -> None:
    asyncio.get_running_loop().call_soon(lambda: 1 / 0)
    await asyncio.sleep(0.01)
    assert isinstance(loop_exceptions[-1]["exception"], ZeroDivisionError)
    del loop_exceptions[-1]  # handled here; otherwise this test would fail at teardown
