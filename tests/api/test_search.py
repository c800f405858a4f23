"""GET /api/v1/search on the shared exports archived through the real pipeline: for queries in each
script, the hits are exactly the messages an independent scan of ``result.json`` finds.

The scan reads the export with ``json``, flattens each ``text`` itself, applies only
:func:`tgpipe.db.search.normalise`, and matches in plain Python: a word against the runs of
``[^\\W_]`` characters of the normalised text, cut where Chinese/Japanese characters (by Unicode
name) meet others; a Chinese item as a substring of the normalised text; a phrase as consecutive
words. No tokeniser, index or SQL of the code under test.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr

from services.api.app import create_app
from services.writer.persist import write_batch
from tests.support.api import Archived, client, export_date, flat_text
from tests.support.factories import message_event
from tgpipe.db.search import normalise

pytestmark = pytest.mark.e2e

_CJK_NAMES = ("CJK UNIFIED IDEOGRAPH", "HIRAGANA", "KATAKANA", "HANGUL")


def _is_cjk(char: str) -> bool:
    return char == "ー" or unicodedata.name(char, "").startswith(_CJK_NAMES)


def scan_words(text: str) -> list[str]:
    """The words of normalised ``text``: letter/digit runs, cut between CJK and other characters."""
    return ["".join(part) for run in re.findall(r"[^\W_]+", normalise(text))
            for _, part in itertools.groupby(run, key=_is_cjk)]


def has(text: str, item: str) -> bool:
    """Whether ``text`` holds a query item: a Chinese string as a substring, words as a whole word or
    as consecutive words (a phrase)."""
    wanted = normalise(item)
    if all(_is_cjk(c) for c in wanted) and len(wanted) > 1:
        return wanted in normalise(text)
    words, phrase = scan_words(text), scan_words(item)
    return any(words[i:i + len(phrase)] == phrase for i in range(len(words) - len(phrase) + 1))


def expected_ids(archived: Archived, positive: list[str], excluded: list[str] = (), *,
                 start: datetime | None = None, end: datetime | None = None, sender: int | None = None) -> set[int]:
    """Ids of the export's messages holding every positive item and no excluded one (dates, sender)."""
    found = set()
    for entry in archived.raw["messages"]:
        text = flat_text(entry.get("text", ""))
        date = export_date(entry, archived.zone)
        if ((start is None or date >= start) and (end is None or date <= end)
                and (sender is None or str(entry.get("from_id", "")).endswith(str(sender)))
                and all(has(text, p) for p in positive) and not any(has(text, x) for x in excluded)):
            found.add(entry["id"])
    return found


async def all_pages(http, **params: Any) -> list[dict[str, Any]]:
    """Every page of a search, following ``next_cursor``."""
    pages, cursor = [], None
    while True:
        response = await http.get("/api/v1/search", params=params | ({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.text
        pages.append(response.json())
        if (cursor := pages[-1]["next_cursor"]) is None:
            return pages


async def all_hits(http, **params: Any) -> list[dict[str, Any]]:
    """Every hit of a search, page by page."""
    return [hit for page in await all_pages(http, **params) for hit in page["hits"]]


def newest_first(archived: Archived, ids: set[int]) -> list[int]:
    """``ids`` ordered by the export's dates, newest first (then the higher id first)."""
    dates = {m["id"]: export_date(m, archived.zone) for m in archived.raw["messages"] if m["id"] in ids}
    return sorted(ids, key=lambda i: (dates[i], i), reverse=True)


# (q, positive items, excluded items) of the independent scan; every positive query has hits.
TRANTOR_QUERIES = [
    ("报道", ["报道"], []),                         # the most common bigram (462 messages)
    ("题材", ["题材"], []),                         # a rare one
    ("开源项目", ["开源项目"], []),                  # four characters: bigrams plus the substring check
    ("中文 工具", ["中文", "工具"], []),              # two items
    ("Linux", ["linux"], []),                       # an English word among Chinese text
    ("linux -android", ["linux"], ["android"]),
    ("开源 -github", ["开源"], ["github"]),
    ('"github releases"', ["github releases"], []),
]
HEJAZIZO_QUERIES = [
    ("بودی", ["بودی"], []),                         # the export also writes it with Arabic yeh (بودي)
    ('"دیده بیدار"', ["دیده بیدار"], []),            # a phrase the export writes ديده بيدار
    ("میدونم", ["میدونم"], []),                      # the export mostly writes می‌دونم (ZWNJ)
    ("نمی‌دونم", ["نمیدونم"], []),                   # the query with ZWNJ
    ("کتاب", ["کتاب"], []),
    ("فیلم -کتاب", ["فیلم"], ["کتاب"]),
    ("پیام ناشناس", ["پیام", "ناشناس"], []),
    ('"پیام ناشناس" -جدید', ["پیام ناشناس"], ["جدید"]),
    ("آب", ["آب"], []),                              # alef with madda = alef
    ("NewMsg", ["newmsg"], []),
]


@pytest.mark.parametrize(("q", "positive", "excluded"), TRANTOR_QUERIES)
async def test_trantor_hits_equal_an_independent_scan(trantor, q, positive, excluded):
    expected = expected_ids(trantor, positive, excluded)
    async with client(create_app(trantor.settings)) as http:
        hits = await all_hits(http, q=q, limit=1000)
        in_chat = await all_hits(http, q=q, chat_id=trantor.chat_id, limit=1000)
    assert expected, f"{q!r}: the scan finds nothing, pick another query"
    assert sorted(h["message_id"] for h in hits) == sorted(expected)
    assert [h["message_id"] for h in in_chat] == [h["message_id"] for h in hits]


@pytest.mark.parametrize(("q", "positive", "excluded"), HEJAZIZO_QUERIES)
async def test_hejazizo_hits_equal_an_independent_scan(hejazizo, q, positive, excluded):
    expected = expected_ids(hejazizo, positive, excluded)
    async with client(create_app(hejazizo.settings)) as http:
        hits = await all_hits(http, q=q, chat_id=hejazizo.chat_id, limit=1000)
    assert expected, f"{q!r}: the scan finds nothing, pick another query"
    assert sorted(h["message_id"] for h in hits) == sorted(expected)


async def test_arabic_letter_variants_are_found_and_highlighted_in_the_original_text(hejazizo):
    async with client(create_app(hejazizo.settings)) as http:
        page = (await http.get("/api/v1/search", params={"q": "دیده بیدار", "chat_id": hejazizo.chat_id})).json()
    [hit] = [h for h in page["hits"] if h["message_id"] == 912063]
    marked = [s["text"] for s in hit["snippet"] if s["match"]]
    assert marked == ["ديده", "بيدار"]  # as the export writes them: Arabic yeh
    original = next(flat_text(m["text"]) for m in hejazizo.raw["messages"] if m["id"] == 912063)
    assert "".join(s["text"] for s in hit["snippet"]).strip("…") in original


async def test_date_and_sender_filters(hejazizo):
    start, end = datetime(2020, 8, 5, tzinfo=UTC), datetime(2020, 8, 10, 23, 59, 59, 999999, tzinfo=UTC)
    owner = 73106435
    expected = expected_ids(hejazizo, ["خیلی"], start=start, end=end, sender=owner)
    async with client(create_app(hejazizo.settings)) as http:
        hits = await all_hits(http, q="خیلی", start_date="2020-08-05", end_date="2020-08-10", sender=owner)
        everyone = await all_hits(http, q="خیلی", start_date="2020-08-05", end_date="2020-08-10")
    assert expected and sorted(h["message_id"] for h in hits) == sorted(expected)
    assert len(everyone) > len(hits)
    assert all(h["sender"]["id"] == owner and start <= datetime.fromisoformat(h["date"]) <= end for h in hits)


async def test_pages_by_cursor_serve_every_hit_once_in_rank_order(trantor):
    expected = expected_ids(trantor, ["报道"])
    async with client(create_app(trantor.settings.model_copy(update={"api_page_limit": 37}))) as http:
        hits = await all_hits(http, q="报道", limit=100)  # capped to 37 a page
    ids = [h["message_id"] for h in hits]
    assert len(ids) == len(set(ids)) and set(ids) == expected
    keys = [(h["rank"], datetime.fromisoformat(h["date"]), h["message_id"]) for h in hits]
    assert keys == sorted(keys, reverse=True)
    assert all(any(s["match"] and "报道" in s["text"] for s in h["snippet"]) for h in hits)


@pytest.mark.parametrize(("q", "positive", "excluded"), [TRANTOR_QUERIES[0], TRANTOR_QUERIES[4], TRANTOR_QUERIES[6]])
async def test_date_sorted_pages_are_the_scan_newest_first(trantor, q, positive, excluded):
    expected = newest_first(trantor, expected_ids(trantor, positive, excluded))
    async with client(create_app(trantor.settings.model_copy(update={"api_page_limit": 37}))) as http:
        pages = await all_pages(http, q=q, sort="date", limit=100)
        in_chat = await all_hits(http, q=q, sort="date", chat_id=trantor.chat_id, limit=100)
    hits = [h for page in pages for h in page["hits"]]
    assert [h["message_id"] for h in hits] == expected  # each once, newest first, across pages of 37
    assert [h["message_id"] for h in in_chat] == expected
    assert all(page["sort"] == "date" and page["rank_window"] is None for page in pages)
    assert all(h["rank"] > 0 and any(s["match"] for s in h["snippet"]) for h in hits)


async def test_date_sort_on_the_persian_export(hejazizo):
    expected = newest_first(hejazizo, expected_ids(hejazizo, ["کتاب"]))
    async with client(create_app(hejazizo.settings)) as http:
        hits = await all_hits(http, q="کتاب", sort="date", limit=9)
    assert [h["message_id"] for h in hits] == expected


@pytest.mark.parametrize("window", [50, 461, 462, 10_000])
async def test_rank_sort_ranks_only_the_newest_matches_of_its_window(trantor, window):
    """报道 matches 462 messages: a window of 461 or fewer cuts them, the hits are exactly the window's
    matches (found by the scan) in the order the unwindowed ranking gives them."""
    matches = newest_first(trantor, expected_ids(trantor, ["报道"]))
    assert len(matches) == 462
    async with client(create_app(trantor.settings)) as http:
        everything = await all_hits(http, q="报道", limit=1000)
    settings = trantor.settings.model_copy(update={"api_search_rank_window": window, "api_page_limit": 23})
    async with client(create_app(settings)) as http:
        pages = await all_pages(http, q="报道", limit=100)
        in_chat = await all_pages(http, q="报道", chat_id=trantor.chat_id, limit=100)
    ranked = set(matches[:window])
    hits = [h["message_id"] for page in pages for h in page["hits"]]
    assert hits == [h["message_id"] for h in everything if h["message_id"] in ranked]
    assert [h["message_id"] for page in in_chat for h in page["hits"]] == hits
    cut = window < len(matches)
    oldest = next(h["date"] for h in everything if h["message_id"] == matches[min(window, len(matches)) - 1])
    assert all(page["rank_window"] == ({"matches": window, "since": oldest} if cut else None)
               for page in pages + in_chat)
    assert len(pages) == -(-min(window, len(matches)) // 23)


async def test_a_cursor_of_one_sort_is_refused_for_the_other(trantor):
    async with client(create_app(trantor.settings)) as http:
        for sort, other in (("rank", "date"), ("date", "rank")):
            cursor = (await http.get("/api/v1/search", params={"q": "报道", "sort": sort, "limit": 5})).json()["next_cursor"]
            response = await http.get("/api/v1/search", params={"q": "报道", "sort": other, "cursor": cursor})
            assert response.status_code == 422, response.text
            assert response.json()["parameter"] == "cursor"
            assert f"sort={sort}" in response.json()["detail"]


async def test_an_edited_message_is_found_by_its_current_text_unless_every_version_is_searched(db, settings):
    chat = 555
    old = message_event(chat, 1, text="Старый текст: КОШКА спит")
    new = message_event(chat, 1, text="Новый текст: Собака бежит", edited_after_s=60)
    async with db.acquire() as conn:
        await write_batch(conn, [old])
        await write_batch(conn, [new])
    async with client(create_app(settings)) as http:
        async def ids(q: str, **params: str) -> list[tuple[int, bool | None]]:
            response = await http.get("/api/v1/search", params={"q": q} | params)
            assert response.status_code == 200, response.text
            return [(h["message_id"], h["version"] and h["version"]["current"]) for h in response.json()["hits"]]

        assert await ids("собака") == [(1, None)]
        assert await ids("кошка") == []
        assert await ids("кошка", versions="all") == [(1, False)]
        assert sorted(await ids("текст", versions="all")) == [(1, False), (1, True)]  # a hit per version
        assert sorted(await ids("текст", versions="all", sort="date")) == [(1, False), (1, True)]
        assert await ids("собака", versions="all", chat_id=str(chat)) == [(1, True)]
        response = await http.get("/api/v1/search", params={"q": "кошка", "versions": "all"})
        [snippet] = [h["snippet"] for h in response.json()["hits"]]
        assert snippet == [{"text": "Старый текст: ", "match": False}, {"text": "КОШКА", "match": True},
                           {"text": " спит", "match": False}]


@pytest.mark.parametrize(("params", "parameter"), [
    ({"q": ""}, "q"), ({"q": "-only"}, "q"), ({"q": '-"only this"'}, "q"), ({"q": "?!"}, "q"),
    ({"q": '"unbalanced'}, "q"), ({"q": "x" * 501}, "q"), ({"q": "报道", "cursor": "bm90IGpzb24"}, "cursor"),
    ({"q": "报道", "start_date": "2024-02-01", "end_date": "2024-01-01"}, "end_date"),
    ({"q": "报道", "versions": "some"}, "versions"), ({"q": "报道", "sort": "best"}, "sort"), ({"q": "报道", "limit": 0}, "limit"),
])
async def test_a_query_that_cannot_be_searched_is_a_422_problem(trantor, params, parameter):
    async with client(create_app(trantor.settings)) as http:
        response = await http.get("/api/v1/search", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["parameter"] == parameter


async def test_an_unknown_chat_is_404_and_a_token_is_required_when_set(trantor):
    async with client(create_app(trantor.settings)) as http:
        response = await http.get("/api/v1/search", params={"q": "报道", "chat_id": 1})
    assert response.status_code == 404 and response.json()["type"] == "urn:tgpipe:problem:unknown-chat"
    guarded = create_app(trantor.settings.model_copy(update={"api_token": SecretStr("s3cret")}))
    async with client(guarded) as anonymous:
        assert (await anonymous.get("/api/v1/search", params={"q": "报道"})).status_code == 401
    async with client(guarded, token="s3cret") as http:
        assert (await http.get("/api/v1/search", params={"q": "报道"})).status_code == 200


def test_the_scan_cuts_words_at_cjk_boundaries():
    """The scan's own rule, on a line shaped like trantor's (so the tests above compare like with like)."""
    assert scan_words("开源Linux工具, Android-12") == ["开源", "linux", "工具", "android", "12"]
    assert has("Linux中文", "linux") and not has("Linuxes", "linux") and has("学中文书", "中文")
