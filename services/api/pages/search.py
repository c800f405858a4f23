"""``GET /search``: the search form and a page of hits (:func:`services.api.search.search`), and
``GET /search/fragment``: the next page of hits as list items, for the infinite scroll.

The form is a GET form, so a search has a shareable URL. A query that cannot be searched (a 422
problem: an unbalanced quote, a date that is not one, a sender that is not an id) is said in the
page, above the form as it was filled, with status 422; an unknown chat is the 404 error page.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from services.api import queries
from services.api import search as searching
from services.api.dates import parse_period
from services.api.deps import BIGINT, Connection, get_settings, require_chat
from services.api.models import SearchPage
from services.api.pages.render import fragment, page
from services.api.problems import Problem, bad_parameter
from tgpipe.settings import Settings

router = APIRouter(include_in_schema=False)

#: Hits per page.
PER_PAGE = 20

CursorQuery = Annotated[str | None, Query(max_length=400)]
#: The form's label of each parameter a problem can name.
LABELS = {"q": "Words", "chat_id": "Chat", "sender": "Sender id", "start_date": "From", "end_date": "To",
          "cursor": "The link to more results"}


class SearchForm(BaseModel):
    """The search form's fields as typed (a field left empty is not a condition): ``q`` (the query,
    docs/api.md "Search"), ``chat_id`` and ``sender`` (ids), ``start_date``/``end_date`` (ISO 8601
    days or instants), ``versions`` (``all``: the "search all versions" box), ``sort`` (``rank``:
    best first, among the newest ``TGPIPE_API_SEARCH_RANK_WINDOW`` matches; ``date``: newest first)."""

    q: str = Field("", max_length=2000)
    chat_id: str = Field("", max_length=30)
    sender: str = Field("", max_length=30)
    start_date: str = Field("", max_length=40)
    end_date: str = Field("", max_length=40)
    versions: Literal["current", "all"] = "current"
    sort: Literal["rank", "date"] = "rank"

    def link(self, path: str, **changes: str) -> str:
        """``path`` with this search's fields, overridden by ``changes`` (e.g. ``cursor=…``,
        ``sort="date"``), as the query string; empty fields and defaults are left out."""
        defaults = {("versions", "current"), ("sort", "rank")}
        fields = {k: v for k, v in (self.model_dump() | changes).items() if v and (k, v) not in defaults}
        return f"{path}?{urlencode(fields)}"


SearchFields = Annotated[SearchForm, Query()]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def _id(parameter: str, text: str) -> int | None:
    """The id typed in field ``parameter`` (``None`` when empty).

    Raises:
        Problem: 422 naming ``parameter`` when it is not a whole number in PostgreSQL's bigint range.
    """
    if not text.strip():
        return None
    try:
        value = int(text.strip())
    except ValueError:
        raise bad_parameter(parameter, f"{text!r} is not an id (a whole number)") from None
    if not BIGINT["ge"] <= value <= BIGINT["le"]:
        raise bad_parameter(parameter, f"{text!r} is out of range")
    return value


async def _search(conn: Connection, settings: Settings, form: SearchForm, cursor: str | None) -> SearchPage:
    """The page of hits of ``form`` after ``cursor``.

    Raises:
        Problem: 422 (a field or the cursor cannot be searched), 404 (no such chat).
    """
    start, end = parse_period(form.start_date, form.end_date)
    chat_id = _id("chat_id", form.chat_id)
    if chat_id is not None:
        await require_chat(conn, chat_id)
    query = searching.SearchQuery(q=form.q, chat_id=chat_id, sender=_id("sender", form.sender), start=start,
                                  end=end, versions=form.versions, sort=form.sort,
                                  rank_window=settings.api_search_rank_window, limit=PER_PAGE, cursor=cursor)
    return await searching.search(conn, query)


def _more(form: SearchForm, results: SearchPage | None) -> tuple[str, str] | None:
    """``(page URL, fragment URL)`` of the hits after ``results``, ``None`` after the last."""
    if results is None or results.next_cursor is None:
        return None
    return form.link("/search", cursor=results.next_cursor), form.link("/search/fragment", cursor=results.next_cursor)


@router.get("/search", response_class=HTMLResponse)
async def search_page(request: Request, conn: Connection, settings: SettingsDep, form: SearchFields,
                      cursor: CursorQuery = None) -> HTMLResponse:
    """The form, filled as given, and when ``q`` is given the hits (``PER_PAGE``, after ``cursor``),
    each linking to its message; status 422 with the reason, ``(field label, what is wrong)``, when
    the search cannot be made."""
    results, problem = None, None
    if form.q.strip():
        try:
            results = await _search(conn, settings, form, cursor)
        except Problem as exc:
            if exc.status != 422:
                raise
            name = exc.parameter or ""
            problem = (LABELS.get(name, name), exc.detail.removeprefix(f"{name}: "))
    return page(request, "search.html", status=422 if problem else 200, form=form,
                chats=await queries.chat_titles(conn), results=results, problem=problem, more=_more(form, results))


@router.get("/search/fragment", response_class=HTMLResponse)
async def search_fragment(conn: Connection, settings: SettingsDep, form: SearchFields,
                          cursor: CursorQuery = None) -> HTMLResponse:
    """The hits after ``cursor`` as list items, with the link that loads the next ones (none after the last).

    Raises:
        Problem: as :func:`search_page` (an HTML error page: the script then leaves the link to follow).
    """
    results = await _search(conn, settings, form, cursor)
    return fragment("search_fragment.html", results=results, versions=form.versions, more=_more(form, results))
