"""PostgreSQL connection pool (asyncpg) shared by the writer, media service and verify."""

from __future__ import annotations

import json

import asyncpg


async def _init_connection(connection: asyncpg.Connection) -> None:
    for type_name in ("jsonb", "json"):
        await connection.set_type_codec(type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(database_url: str, *, min_size: int = 1, max_size: int = 4) -> asyncpg.Pool:
    """Open a pool to ``database_url`` with JSON codecs for ``jsonb``/``json`` columns.

    Raises:
        OSError, asyncpg.PostgresError: the server is unreachable or refuses the connection.
    """
    return await asyncpg.create_pool(
        database_url, min_size=min_size, max_size=max_size, init=_init_connection
    )


class PoolRef:
    """A pool opened at service start-up and handed to handlers registered before it (``ref.get()``)."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        """Open the pool (idempotent)."""
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
