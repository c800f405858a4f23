"""PostgreSQL through asyncpg: the pool the services share, and one connection for a job.

Every pool tgpipe opens first checks two things, so that a command or a service fails at once with
one clear line (:class:`~tgpipe.errors.ConfigurationError`, exit 2) instead of failing later in a
query: the URL can work at all (well-formed, the database exists, the role and password are
accepted), and the database is migrated to this tgpipe's Alembic head. Migrations (Alembic) live
in :mod:`tgpipe.db.migrations`.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import asyncpg

from tgpipe.errors import ConfigurationError, is_transient

#: What a command says when the database lacks tgpipe's tables or some of its migrations.
NOT_MIGRATED = "not migrated: run tgpipe db upgrade"

#: Every text version of every message, with its text: a subquery (use it in ``FROM``, aliased) over
#: ``message_versions``, whose current version's row leaves its text and entities to the message's
#: row (migration 0013). Columns: ``channel_id``, ``message_id``, ``text_sha256``, ``text``,
#: ``entities``, ``edit_date``, ``valid_from``, ``recorded_at`` and ``current`` (true for the
#: message's current version).
TEXT_VERSIONS = """(SELECT v.channel_id, v.message_id, v.text_sha256, coalesce(v.text, m.text) AS text,
        coalesce(v.entities, m.entities) AS entities, v.edit_date, v.valid_from, v.recorded_at,
        v.text IS NULL AS current
    FROM message_versions v JOIN messages m ON m.channel_id = v.channel_id AND m.message_id = v.message_id)"""


async def _init_connection(connection: asyncpg.Connection) -> None:
    for type_name in ("jsonb", "json"):
        await connection.set_type_codec(type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


@contextlib.contextmanager
def _usable_url() -> Iterator[None]:
    """Turn a connection error that no retry can fix into :class:`ConfigurationError`.

    Such errors are the ones :func:`tgpipe.errors.is_transient` calls permanent when connecting: a
    malformed URL (asyncpg's ``ClientConfigurationError``, a port that is not a number), an unknown
    database, a role or password refused, ``pg_hba.conf`` rejecting the client. Transient ones (the
    server not up yet, a refused TCP connection) propagate unchanged, for the caller to wait.
    """
    try:
        yield
    except (asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as exc:
        if is_transient(exc):
            raise
        raise ConfigurationError(f"the database URL cannot work: {exc} ({type(exc).__name__})") from None


@functools.cache
def _migration_heads() -> tuple[frozenset[str], frozenset[str]]:
    """``(heads, every known revision)`` of tgpipe's Alembic scripts (read once per process)."""
    import logging

    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # one INFO line per plugin, on import
    from alembic.script import ScriptDirectory

    from tgpipe.db.migrations import alembic_config

    script = ScriptDirectory.from_config(alembic_config("postgresql://"))
    return frozenset(script.get_heads()), frozenset(r.revision for r in script.walk_revisions())


async def require_migrated(connection: asyncpg.Connection) -> None:
    """Check that the database is migrated to tgpipe's head (source: the ``alembic_version`` table).

    A revision this tgpipe does not know is accepted: a newer tgpipe migrated the database, and its
    migrations keep older code working while replicas are replaced.

    Raises:
        ConfigurationError: no ``alembic_version`` table (no tables at all), or a revision older
            than the head; the message starts with :data:`NOT_MIGRATED`.
    """
    heads, known = _migration_heads()
    current: set[str] = set()
    if await connection.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL"):
        current = {r["version_num"] for r in await connection.fetch("SELECT version_num FROM alembic_version")}
    if not current:
        raise ConfigurationError(f"{NOT_MIGRATED} (the database has no tgpipe tables)")
    if current & known and not current & heads:
        raise ConfigurationError(f"{NOT_MIGRATED} (the database is at revision {', '.join(sorted(current))}, "
                                 f"this tgpipe needs {', '.join(sorted(heads))})")


async def check_database_url(database_url: str) -> None:
    """Connect to ``database_url`` once and disconnect (before ``tgpipe db upgrade``).

    Raises:
        ConfigurationError: the URL cannot work (see :func:`create_pool`).
        OSError, asyncpg.PostgresError: transient: the server does not answer (yet).
    """
    with _usable_url():
        connection = await asyncpg.connect(database_url)
    await connection.close()


async def create_pool(database_url: str, *, min_size: int = 1, max_size: int = 4,
                      server_settings: dict[str, str] | None = None) -> asyncpg.Pool:
    """Open a pool to ``database_url`` with JSON codecs for ``jsonb``/``json`` columns, after
    checking that the database is migrated to head (:func:`require_migrated`). ``server_settings``
    are PostgreSQL settings of every connection (e.g. ``default_transaction_read_only``).

    Raises:
        ConfigurationError: the URL cannot work (malformed, unknown database, role or password
            refused), or the database is not migrated to head.
        OSError, asyncpg.PostgresError: transient: the server is unreachable or not ready.
    """
    with _usable_url():
        pool = await asyncpg.create_pool(database_url, min_size=min_size, max_size=max_size, init=_init_connection,
                                         server_settings=server_settings)
    try:
        async with pool.acquire() as connection:
            await require_migrated(connection)
    except BaseException:
        await pool.close()
        raise
    return pool


@asynccontextmanager
async def connection(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """One connection to ``database_url`` (JSON codecs as :func:`create_pool`), closed on exit:
    for jobs that read or check the archive once (verify, status, replay's digest).

    Raises:
        OSError, asyncpg.PostgresError: the server is unreachable or refuses the connection.
    """
    pool = await create_pool(database_url, max_size=1)
    try:
        async with pool.acquire() as conn:
            yield conn
    finally:
        await pool.close()


class PoolRef:
    """A pool opened at service start-up and handed to handlers registered before it (``ref.get()``)."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        """Open the pool (idempotent). Raises as :func:`create_pool`."""
        if self._pool is None:
            self._pool = await create_pool(self.database_url)

    def get(self) -> asyncpg.Pool:
        """The open pool. Raises ``RuntimeError`` before :meth:`open`."""
        if self._pool is None:
            raise RuntimeError("database pool used before start-up opened it")
        return self._pool

    async def close(self) -> None:
        """Close the pool if open."""
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
