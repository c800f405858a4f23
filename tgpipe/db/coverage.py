"""Reading the coverage ledger (table ``coverage``, migration 0007): what of a chat is archived completely.

A chat's coverage is the union of its ledger rows, per dimension: message ids (``int8range``) and
dates (``tstzrange``). Holes are what the union leaves out between its first and its last covered
value. Writing the ledger is the single writer's (it records a range-complete marker in the
transaction that commits it); this module only reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from schemas.vocabulary import CoverageSource

_ROWS = """
SELECT lower(message_ids) AS first_id, upper(message_ids) - 1 AS last_id, lower(dates) AS first_date,
       upper(dates) AS last_date, source, recorded_at
FROM coverage WHERE channel_id = $1 ORDER BY lower(message_ids), recorded_at
"""
_UNION = """
SELECT coalesce(array_agg(r ORDER BY r), '{}') FROM unnest((SELECT range_agg(message_ids) FROM coverage
                                                            WHERE channel_id = $1)) AS r
"""
_DATE_UNION = """
SELECT coalesce(array_agg(r ORDER BY r), '{}') FROM unnest((SELECT range_agg(dates) FROM coverage
                                                            WHERE channel_id = $1)) AS r
"""
_COVERS = """
SELECT coalesce(tstzrange($2, $3, '[]') <@ range_agg(dates), false) FROM coverage WHERE channel_id = $1
"""


@dataclass(frozen=True, slots=True)
class CoveredRange:
    """One ledger row: message ids ``first_id..last_id`` and dates ``first_date..last_date``
    (both inclusive, UTC) were archived completely from ``source`` (recorded at ``recorded_at``)."""

    first_id: int
    last_id: int
    first_date: datetime
    last_date: datetime
    source: CoverageSource
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class ChatCoverage:
    """A chat's coverage.

    ``ranges``: the ledger rows (by first id); ``ids``/``dates``: their union as inclusive
    ``(first, last)`` pairs in order; ``id_holes``/``date_holes``: what lies between consecutive
    pairs of the union (inclusive ``(first, last)`` message ids; open ``(after, before)`` dates).
    """

    chat_id: int
    ranges: list[CoveredRange]
    ids: list[tuple[int, int]]
    dates: list[tuple[datetime, datetime]]

    @property
    def id_holes(self) -> list[tuple[int, int]]:
        """Message ids missing between covered ranges, inclusive ``(first, last)``."""
        return [(a[1] + 1, b[0] - 1) for a, b in zip(self.ids, self.ids[1:], strict=False)]

    @property
    def date_holes(self) -> list[tuple[datetime, datetime]]:
        """Time between covered date ranges, as ``(end of one, start of the next)`` (both excluded)."""
        return [(a[1], b[0]) for a, b in zip(self.dates, self.dates[1:], strict=False)]


async def chat_coverage(conn: asyncpg.Connection, chat_id: int) -> ChatCoverage:
    """The coverage of chat ``chat_id`` (empty lists when nothing of it is covered)."""
    rows = await conn.fetch(_ROWS, chat_id)
    ids = [(r.lower, r.upper - 1) for r in await conn.fetchval(_UNION, chat_id)]
    dates = [(r.lower, r.upper) for r in await conn.fetchval(_DATE_UNION, chat_id)]
    return ChatCoverage(chat_id, [CoveredRange(**dict(r)) for r in rows], ids, dates)


async def covers(conn: asyncpg.Connection, chat_id: int, start: datetime, end: datetime) -> bool:
    """Whether every instant of ``start..end`` (inclusive, aware datetimes) lies in the chat's covered
    dates, i.e. the archive holds every message of that period."""
    return await conn.fetchval(_COVERS, chat_id, start, end)

