"""Waiting for a condition with a bound (never a sleep standing in for it)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

import asyncpg


async def eventually(predicate: Callable[[], Awaitable[bool] | bool], timeout: float, what: str,
                     interval: float = 0.1) -> None:
    """Poll ``predicate`` (plain or async) until it holds; fail naming ``what`` after ``timeout`` seconds."""
    try:
        async with asyncio.timeout(timeout):
            while not await _value(predicate()):
                await asyncio.sleep(interval)
    except TimeoutError:
        raise AssertionError(f"not within {timeout} s: {what}") from None


async def _value(result: Awaitable[bool] | bool) -> bool:
    return await result if inspect.isawaitable(result) else result


def persisted(db: asyncpg.Pool, count: int) -> Callable[[], Awaitable[bool]]:
    """A predicate for :func:`eventually`: ``messages`` holds ``count`` rows."""
    async def check() -> bool:
        async with db.acquire() as conn:
            return await conn.fetchval("SELECT count(*) FROM messages") == count
    return check
