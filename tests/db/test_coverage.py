"""Reading the coverage ledger: union, holes and whether a period is covered, on a real PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from tgpipe.db.coverage import chat_coverage, covers


def day(d: int, h: int = 0) -> datetime:
    return datetime(2024, 1, d, h, tzinfo=UTC)


async def _record(conn, chat: int, first: int, last: int, start: datetime, end: datetime, source: str) -> None:
    await conn.execute(
        "INSERT INTO coverage (event_id, channel_id, message_ids, dates, source) "
        "VALUES ($1, $2, int8range($3, $4, '[]'), tstzrange($5, $6, '[]'), $7)",
        uuid.uuid4(), chat, first, last, start, end, source)


async def test_coverage_is_the_union_of_the_ledger_with_its_holes(db):
    async with db.acquire() as conn:
        await conn.execute("INSERT INTO channels (channel_id, type, title) VALUES (7, 'public_channel', 'c')")
        await _record(conn, 7, 1, 100, day(1), day(10), "export")
        await _record(conn, 7, 90, 150, day(9), day(12), "telegram_backfill")  # overlaps the first
        await _record(conn, 7, 300, 400, day(20), day(31), "telegram_backfill")
        coverage = await chat_coverage(conn, 7)
        assert coverage.ids == [(1, 150), (300, 400)]
        assert coverage.id_holes == [(151, 299)]
        assert coverage.dates == [(day(1), day(12)), (day(20), day(31))]
        assert coverage.date_holes == [(day(12), day(20))]
        assert [(r.first_id, r.last_id, r.source) for r in coverage.ranges] == [
            (1, 100, "export"), (90, 150, "telegram_backfill"), (300, 400, "telegram_backfill")]
        assert await covers(conn, 7, day(2), day(11))
        assert await covers(conn, 7, day(20), day(31))
        assert not await covers(conn, 7, day(11), day(21))  # the hole 12..20 is inside
        assert not await covers(conn, 8, day(2), day(3))  # a chat with no ledger row


async def test_an_uncovered_chat_has_empty_coverage(db):
    async with db.acquire() as conn:
        coverage = await chat_coverage(conn, 99)
    assert (coverage.ranges, coverage.ids, coverage.dates, coverage.id_holes) == ([], [], [], [])
