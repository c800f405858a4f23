"""``GET /api/v1/chats`` and ``GET /api/v1/chats/{chat_id}/coverage``."""

from __future__ import annotations

from fastapi import APIRouter

from services.api import queries
from services.api.deps import ChatId, Connection
from services.api.models import (
    Chat, Chats, Coverage, CoveredRange, CoverageSummary, DateRange, IdRange,
)
from services.api.problems import responses
from tgpipe.db.coverage import ChatCoverage, chat_coverage

router = APIRouter(tags=["chats"])


def _dates(pairs: list[tuple]) -> list[DateRange]:
    return [DateRange(start=a, end=b) for a, b in pairs]


def _ids(pairs: list[tuple[int, int]]) -> list[IdRange]:
    return [IdRange(first=a, last=b) for a, b in pairs]


def _summary(coverage: ChatCoverage) -> CoverageSummary:
    return CoverageSummary(ranges=len(coverage.ranges), dates=_dates(coverage.dates),
                           date_holes=len(coverage.date_holes))


@router.get("/chats", responses=responses(401))
async def list_chats(conn: Connection) -> Chats:
    """Every archived chat: type, title, message count, first and last message date, coverage in brief."""
    out = []
    for row in await queries.chats(conn):
        coverage = await chat_coverage(conn, row["channel_id"])
        out.append(Chat(chat_id=row["channel_id"], type=row["type"], title=row["title"],
                        message_count=row["message_count"], first_message_date=row["first_date"],
                        last_message_date=row["last_date"], coverage=_summary(coverage)))
    return Chats(chats=out)


@router.get("/chats/{chat_id}/coverage", responses=responses(401, 404, 422))
async def coverage(chat_id: ChatId, conn: Connection) -> Coverage:
    """What of the chat is archived completely: the ledger's ranges with their source, their union,
    and the holes between."""
    found = await chat_coverage(conn, chat_id)
    ranges = [CoveredRange(ids=IdRange(first=r.first_id, last=r.last_id),
                           dates=DateRange(start=r.first_date, end=r.last_date), source=r.source,
                           recorded_at=r.recorded_at) for r in found.ranges]
    return Coverage(chat_id=chat_id, ranges=ranges, ids=_ids(found.ids), dates=_dates(found.dates),
                    id_holes=_ids(found.id_holes), date_holes=_dates(found.date_holes))
