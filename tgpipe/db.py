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
