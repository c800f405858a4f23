"""The search page over HTTP (httpx on the app) against trantor archived through the pipeline: hits
escaped with their matches marked, each linking to its message; the chat filter; every hit reached
once through the "More results" links; a query that cannot be searched said in the page, the form kept."""

from __future__ import annotations

import html as entities
import re

import pytest
from markupsafe import escape

from services.api.app import create_app
from tests.api.pages.test_pages import EVIL_CHAT, PAYLOAD
from tests.api.test_search import expected_ids, newest_first
from tests.support.api import client, written
from tests.support.factories import message_event

pytestmark = pytest.mark.e2e

OTHER_CHAT = 4343


def hits(html: str) -> list[tuple[int, int]]:
    """``(chat_id, message_id)`` of each hit of a page or fragment, in order (from its snippet's link)."""
    return [(int(c), int(m)) for c, m in re.findall(r'<a class="snippet text" dir="auto" href="/chats/(-?\d+)/(\d+)#m-\d+">',
                                                     html)]


def more(html: str, attribute: str = "href") -> str | None:
    """The "More results" link's ``href`` (the page) or ``data-fragment``, if any."""
    found = re.search(rf'<li class="more" data-direction="newer"><a href="([^"]+)" data-fragment="([^"]+)">', html)
    return entities.unescape(found.group(1 if attribute == "href" else 2)) if found else None


@pytest.fixture(scope="module")
async def planted(trantor):
    """An HTML payload in chat EVIL_CHAT and, in another chat, a message holding 技术 (as trantor does)
    and a message edited from "старый кот" to "новый кот"."""
    await written(trantor.settings, message_event(EVIL_CHAT, 1, text=PAYLOAD, title="<b>evil</b>"),
                  message_event(OTHER_CHAT, 7, text="开源技术", title="other"),
                  message_event(OTHER_CHAT, 8, text="старый кот", title="other"))
    await written(trantor.settings, message_event(OTHER_CHAT, 8, text="новый кот", edited_after_s=60, title="other"))


async def test_a_hit_is_escaped_its_match_marked_and_it_links_to_its_message(trantor, planted):
    async with client(create_app(trantor.settings)) as http:
        response = await http.get("/search", params={"q": "onerror"})
    assert response.status_code == 200
    assert hits(response.text) == [(EVIL_CHAT, 1)]
    assert ("&lt;script&gt;window.__pwned=1&lt;/script&gt;&lt;img src=x <mark>onerror</mark>=&#34;window.__pwned=2&#34;&gt;"
            in response.text)
    assert "<script>window" not in response.text and "<img src=x" not in response.text
    assert "&lt;b&gt;evil&lt;/b&gt;" in response.text and "<b>evil" not in response.text  # the chat title too
    assert 'value="onerror"' in response.text  # the form keeps the query


async def test_the_chat_filter_keeps_the_hits_of_that_chat(trantor, planted):
    everywhere = expected_ids(trantor, ["技术"])
    async with client(create_app(trantor.settings)) as http:
        timeline = (await http.get(f"/chats/{trantor.chat_id}")).text
        assert f'<input type="hidden" name="chat_id" value="{trantor.chat_id}">' in timeline  # "Search this chat"
        every = await http.get("/search", params={"q": "技术"})
        within = await http.get("/search", params={"q": "技术", "chat_id": str(trantor.chat_id)})
        other = await http.get("/search", params={"q": "技术", "chat_id": str(OTHER_CHAT)})
        unknown = await http.get("/search", params={"q": "技术", "chat_id": "999"})
    assert len(everywhere) > 20 and (OTHER_CHAT, 7) in hits(every.text)
    assert {chat for chat, _ in hits(within.text)} == {trantor.chat_id}
    assert {message for _, message in hits(within.text)} <= everywhere and len(hits(within.text)) == 20
    assert hits(other.text) == [(OTHER_CHAT, 7)]
    assert f'<option value="{OTHER_CHAT}" selected>other</option>' in other.text
    assert unknown.status_code == 404 and "no chat 999 is archived" in unknown.text


async def test_more_results_reach_every_hit_once_and_the_fragment_continues_the_page(trantor):
    expected = expected_ids(trantor, ["技术"])
    seen: list[int] = []
    async with client(create_app(trantor.settings)) as http:
        page = (await http.get("/search", params={"q": "技术", "chat_id": str(trantor.chat_id)})).text
        first = more(page, "fragment")
        assert first is not None and first.startswith("/search/fragment?")
        fragment = (await http.get(first)).text
        assert not fragment.lstrip().startswith("<!doctype")
        path: str | None = "/search?" + f"q=技术&chat_id={trantor.chat_id}"
        while path:
            page = (await http.get(path)).text
            seen += [message for _, message in hits(page)]
            path = more(page)
            assert path is None or "chat_id=" in path and "cursor=" in path
    assert len(seen) == len(set(seen)) and set(seen) == expected
    assert [m for _, m in hits(fragment)] == seen[20:40]  # the fragment is the second page's hits


async def test_newest_first_walks_every_hit_by_date_and_a_cut_rank_window_is_said(trantor):
    expected = newest_first(trantor, expected_ids(trantor, ["技术"]))
    chat = str(trantor.chat_id)
    seen: list[int] = []
    narrow = trantor.settings.model_copy(update={"api_search_rank_window": 5})
    async with client(create_app(narrow)) as http:
        ranked = (await http.get("/search", params={"q": "技术", "chat_id": chat})).text
        path: str | None = f"/search?q=技术&chat_id={chat}&sort=date"
        while path:
            page = (await http.get(path)).text
            seen += [message for _, message in hits(page)]
            path = more(page)
            assert path is None or "sort=date" in path
    assert seen == expected  # every hit once, newest first
    assert len(hits(ranked)) == 5 and "5 newest matches" in ranked  # only the window is ranked, and it says so
    assert f'href="/search?q=%E6%8A%80%E6%9C%AF&amp;chat_id={chat}&amp;sort=date"' in ranked
    assert '<option value="date" selected>' in page


async def test_a_hit_in_an_earlier_version_links_to_the_edit_history(trantor, planted):
    async with client(create_app(trantor.settings)) as http:
        current = (await http.get("/search", params={"q": "старый"})).text
        every = (await http.get("/search", params={"q": "кот", "versions": "all"})).text
    assert 'class="hit"' not in current  # the current text no longer says it
    edits = f'<a class="snippet text" dir="auto" href="/chats/{OTHER_CHAT}/8/edits">старый <mark>кот</mark></a>'
    now = f'<a class="snippet text" dir="auto" href="/chats/{OTHER_CHAT}/8#m-8">новый <mark>кот</mark></a>'
    assert edits in every and now in every and every.count('class="hit"') == 2
    assert "an earlier text, valid from" in every and "the current text" in every
    assert 'id="versions" name="versions" type="checkbox" value="all" checked' in every


@pytest.mark.parametrize(("params", "label", "says"), [
    ({"q": '"unbalanced'}, "Words", "a quote is unbalanced"),
    ({"q": "-only"}, "Words", "nothing to search for"),
    ({"q": "技术", "start_date": "yesterday"}, "From", "&#39;yesterday&#39; is not an ISO 8601 date"),
    ({"q": "技术", "start_date": "2024-02-01", "end_date": "2024-01-01"}, "To", "is before start_date"),
    ({"q": "技术", "sender": "alice"}, "Sender id", "&#39;alice&#39; is not an id"),
    ({"q": "技术", "cursor": "bm90IGEgY3Vyc29y"}, "The link to more results", "not a cursor this API gave"),
])
async def test_a_search_that_cannot_be_made_is_said_in_the_page_with_the_form_kept(trantor, params, label, says):
    async with client(create_app(trantor.settings)) as http:
        response = await http.get("/search", params=params)
    assert response.status_code == 422 and response.headers["content-type"].startswith("text/html")
    assert f'<p class="problem" role="alert">This search cannot be made. <strong>{label}</strong>' in response.text
    assert says in response.text and "Traceback" not in response.text
    assert f'id="q" name="q" type="search" value="{escape(params["q"])}"' in response.text
    assert "<ol class=\"hits\"" not in response.text


async def test_without_a_query_the_page_is_the_form(trantor):
    async with client(create_app(trantor.settings)) as http:
        response = await http.get("/search")
    assert response.status_code == 200
    assert '<form class="search" role="search" method="get" action="/search">' in response.text
    assert '<label for="versions">Search all versions' in response.text and "class=\"hit\"" not in response.text
