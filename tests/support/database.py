"""Test databases on a real PostgreSQL server: a URL per database, a fresh database per test."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import asyncpg


def database_url_for(server_url: str, database: str) -> str:
    """``server_url`` with its database replaced by ``database`` (TCP and Unix-socket URLs alike).

    ``postgresql://u@127.0.0.1:5432/postgres`` -> ``postgresql://u@127.0.0.1:5432/DATABASE``;
    ``postgresql://postgres@/postgres?host=/dir`` -> ``postgresql://postgres@/DATABASE?host=/dir``.
    A ``dbname``/``database`` query parameter, which would override the path, is dropped.
    """
    parts = urlsplit(server_url)
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if k not in ("dbname", "database")], safe="/")
    # Joined by hand: urlunsplit drops the "//" of a URL with an empty host (socket URLs).
    return f"{parts.scheme}://{parts.netloc}/{quote(database)}" + (f"?{query}" if query else "")


async def admin(server_url: str, *statements: str) -> None:
    """Run ``statements`` one by one on the server's maintenance database."""
    connection = await asyncpg.connect(server_url, timeout=30)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def fresh_database(postgres_url: str, template: str | None) -> AsyncIterator[str]:
    """URL of a new database ``tgpipe_t_<hex>`` (a copy of ``template``, or empty when ``None``),
    dropped on exit."""
    name = f"tgpipe_t_{uuid.uuid4().hex[:16]}"
    await admin(postgres_url, f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    try:
        yield database_url_for(postgres_url, name)
    finally:
        await admin(postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
