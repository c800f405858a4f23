"""A chat's coverage as a typed result, shown by ``tgpipe status`` and ``tgpipe collector gaps``.

Source: the coverage ledger (:func:`tgpipe.db.coverage.chat_coverage`), written by the single
writer from ``range.completed`` markers (contract C1).
"""

from __future__ import annotations

import asyncpg
from pydantic import Field

from schemas.vocabulary import CoverageSource
from tgpipe.db.coverage import chat_coverage
from tgpipe.ops.results import IsoDatetime, Result


class CoveredRangeResult(Result):
    """One ledger row: message ids and dates (inclusive, UTC), its source and when it was recorded."""

    first_id: int
    last_id: int
    first_date: IsoDatetime
    last_date: IsoDatetime
    source: CoverageSource
    recorded_at: IsoDatetime


class CoverageResult(Result):
    """A chat's coverage (JSON key of ``chat_id``: ``channel_id``): ``ids`` and ``dates``, the union of
    its ledger rows as inclusive ``[first, last]`` pairs; ``id_holes``, the message ids missing
    between them (inclusive); ``date_holes``, the time between them (``[end, next start]``, both
    excluded); ``ranges``, the ledger rows by first id. All empty when nothing is covered."""

    chat_id: int = Field(serialization_alias="channel_id")
    ids: list[tuple[int, int]]
    dates: list[tuple[IsoDatetime, IsoDatetime]]
    id_holes: list[tuple[int, int]]
    date_holes: list[tuple[IsoDatetime, IsoDatetime]]
    ranges: list[CoveredRangeResult]


async def coverage_of(conn: asyncpg.Connection, chat_id: int) -> CoverageResult:
    """The coverage of chat ``chat_id`` from the ledger."""
    found = await chat_coverage(conn, chat_id)
    return CoverageResult(chat_id=chat_id, ids=found.ids, dates=found.dates, id_holes=found.id_holes,
                          date_holes=found.date_holes,
                          ranges=[CoveredRangeResult(**{f: getattr(r, f) for f in CoveredRangeResult.model_fields})
                                  for r in found.ranges])
