"""The embedded default parts: embedded_settings, EmbeddedPostgres (data kept across runs), TansuBroker."""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from tgpipe.runtime.embedded import EmbeddedPostgres, embedded_settings
from tgpipe.settings import Settings


@pytest.fixture
def pg_root() -> Iterator[Path]:
    # A directory of its own under the system temp dir rather than tmp_path (see conftest.postgres_url).
    root = Path(tempfile.mkdtemp(prefix="tgpipe-test-embedded-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_embedded_settings_starts_nothing_when_both_are_set(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", database_url="postgresql://u@db.invalid/x",
                        kafka_bootstrap_servers="kafka.invalid:9092")
    with embedded_settings(settings) as effective:
        assert effective == settings
        assert effective.kafka_enable_idempotence is True
    assert not (tmp_path / "home").exists()  # no pgdata, no broker log


def test_embedded_settings_without_kafka_starts_no_broker(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", database_url="postgresql://u@db.invalid/x")
    with embedded_settings(settings, kafka=False) as effective:
        assert effective == settings and effective.kafka_bootstrap_servers is None
    assert not (tmp_path / "home").exists()


async def test_embedded_postgres_keeps_data_across_runs(pg_root: Path) -> None:
    pgdata = pg_root / "pgdata"
    with EmbeddedPostgres(pgdata) as server:
        url = server.ensure_database("tgpipe")
        assert url == f"postgresql://postgres@/tgpipe?host={pgdata}"
        connection = await asyncpg.connect(url)
        try:
            await connection.execute("CREATE TABLE kept (value text); INSERT INTO kept VALUES ('survives')")
        finally:
            await connection.close()
    assert not (pgdata / "postmaster.pid").exists()  # stopped
    with pytest.raises(OSError):
        await asyncpg.connect(url, timeout=5)

    with EmbeddedPostgres(pgdata) as server:
        assert server.ensure_database("tgpipe") == url  # exists already
        connection = await asyncpg.connect(url)
        try:
            assert await connection.fetchval("SELECT value FROM kept") == "survives"
        finally:
            await connection.close()


async def test_embedded_settings_starts_tansu_when_kafka_is_unset(tmp_path: Path, database_url: str) -> None:
    settings = Settings(home=tmp_path, database_url=database_url)
    with embedded_settings(settings) as effective:
        assert effective.database_url == database_url
        servers = effective.kafka_bootstrap_servers
        assert servers is not None and servers.startswith("127.0.0.1:")
        assert (effective.kafka_enable_idempotence, effective.kafka_session_timeout_ms,
                effective.kafka_heartbeat_interval_ms) == (False, 2000, 500)
        admin = AIOKafkaAdminClient(bootstrap_servers=servers)
        await admin.start()
        try:
            assert await admin.list_topics() == []
        finally:
            await admin.close()
        port = int(servers.rsplit(":", 1)[1])
    assert (tmp_path / "logs" / "tansu.log").is_file()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
