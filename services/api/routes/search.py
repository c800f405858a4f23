"""``GET /api/v1/search``: full-text search across the archive or within one chat."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from services.api import search as searching
from services.api.dates import parse_period
from services.api.deps import BIGINT, Connection, get_settings, require_chat
from services.api.models import SearchPage
from services.api.problems import responses
from tgpipe.settings import Settings

router = APIRouter(tags=["search"])


@router.get("/search", responses=responses(401, 404, 422))
async def search_messages(
    conn: Connection, settings: Annotated[Settings, Depends(get_settings)],
    q: Annotated[str, Query(min_length=1, max_length=searching.MAX_QUERY_LENGTH,
                            description='words (whole words; Chinese/Japanese/Korean: any substring of 2+ '
                                        'characters), "a quoted phrase", -excluded; docs/api.md "Search"')],
    chat_id: Annotated[int | None, Query(description="only this chat", **BIGINT)] = None,
    sender: Annotated[int | None, Query(description="only messages of this sender id", **BIGINT)] = None,
    start_date: Annotated[str | None, Query(description="first day or instant (ISO 8601; UTC unless a zone "
                                                        "is given)")] = None,
    end_date: Annotated[str | None, Query(description="last day or instant, inclusive")] = None,
    versions: Annotated[Literal["current", "all"], Query(description="current: each message's current text; "
                                                                     "all: every text version (a hit per "
                                                                     "version)")] = "current",
    sort: Annotated[Literal["rank", "date"], Query(description="rank: best first, among the newest "
                                                               "TGPIPE_API_SEARCH_RANK_WINDOW matches (rank_window "
                                                               "says when there were more); date: newest first, "
                                                               "every match")] = "rank",
    limit: Annotated[int, Query(ge=1, le=10_000, description="hits per page (capped by "
                                                              "TGPIPE_API_PAGE_LIMIT)")] = 20,
    cursor: Annotated[str | None, Query(max_length=400, description="next_cursor of the previous page")] = None,
) -> SearchPage:
    """Messages whose text (a media caption is the message's text) matches ``q``, best first or
    newest first (``sort``), with a snippet of the original text whose matched pieces are marked."""
    start, end = parse_period(start_date, end_date)
    if chat_id is not None:
        await require_chat(conn, chat_id)
    query = searching.SearchQuery(q=q, chat_id=chat_id, sender=sender, start=start, end=end, versions=versions,
                                  sort=sort, rank_window=settings.api_search_rank_window,
                                  limit=min(limit, settings.api_page_limit), cursor=cursor)
    return await searching.search(conn, query)
