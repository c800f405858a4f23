"""The web viewer's pages over HTTP (httpx on the app) against trantor archived through the pipeline:
what each page shows, the infinite scroll's fragments walked end to end, the stable message link,
escaping, the security headers, and HTML error pages for bad input."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

import asyncpg

from schemas.vocabulary import MediaKind, MediaStatus
from services.api.app import create_app
from services.api.pages import gallery
from services.media.persist import MediaRow, upsert_media
from tests.support.api import client, export_date, flat_text, written
from tests.support.factories import message_event

pytestmark = pytest.mark.e2e

PAYLOAD = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
EVIL_CHAT = 4242


def ids(html: str) -> list[int]:
    """The message ids of a page or fragment, in document order."""
    return [int(i) for i in re.findall(r'<li id="m-(\d+)"', html)]


def link(html: str, direction: str) -> str | None:
    """The fragment URL of the "older"/"newer" scroll link, if any."""
    found = re.search(rf'data-direction="{direction}"><a href="[^"]*" data-fragment="([^"]+)"', html)
    return found.group(1).replace("&amp;", "&") if found else None


def in_order(trantor) -> list[int]:
    """trantor's message ids by (date, id), read from the export itself."""
    return [m["id"] for m in sorted(trantor.raw["messages"], key=lambda m: (export_date(m, trantor.zone), m["id"]))]


@pytest.fixture(scope="module")
async def evil(trantor):
    """A chat whose title and only message are HTML payloads, written by the writer into trantor's archive."""
    await written(trantor.settings, message_event(EVIL_CHAT, 1, text=PAYLOAD, title='<b onmouseover="x()">evil</b>'))
    return EVIL_CHAT


async def test_the_chats_list_shows_each_chat_with_counts_dates_and_coverage(trantor):
    async with client(create_app(trantor.settings)) as http:
        response = await http.get("/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    row = response.text.split(f'href="/chats/{trantor.chat_id}"', 1)[1].split("</tr>", 1)[0]
    dates = sorted(export_date(m, trantor.zone) for m in trantor.raw["messages"])
    assert trantor.raw["name"] in row and "public channel" in row
    assert f'<td class="num">{len(trantor.raw["messages"]):,}</td>' in row
    assert f"{dates[0].date()}</time> – <time" in row and f"{dates[-1].date()}</time></td>" in row
    assert f"<td>{dates[0].date()} – {dates[-1].date()}</td>" in row  # covered whole by the archive job


async def test_the_timeline_opens_on_the_latest_messages_and_scrolls_back_to_the_first(trantor):
    expected = in_order(trantor)
    async with client(create_app(trantor.settings)) as http:
        page = (await http.get(f"/chats/{trantor.chat_id}")).text
        seen = ids(page)
        assert seen == expected[-len(seen):] and link(page, "newer") is None
        assert re.search(rf'<li id="m-{expected[-1]}" [^>]*class="msg[^"]*" data-focus="center">', page)
        older = link(page, "older")
        while older:
            response = await http.get(older)
            assert response.status_code == 200
            seen = ids(response.text) + seen
            older = link(response.text, "older")
    assert seen == expected


async def test_a_date_opens_the_timeline_there_and_scrolls_forward_to_the_last(trantor):
    day = datetime(2024, 1, 1, tzinfo=UTC)
    expected = in_order(trantor)
    first = next(m["id"] for m in sorted(trantor.raw["messages"], key=lambda m: (export_date(m, trantor.zone), m["id"]))
                 if export_date(m, trantor.zone) >= day)
    async with client(create_app(trantor.settings)) as http:
        page = (await http.get(f"/chats/{trantor.chat_id}", params={"date": "2024-01-01"})).text
        assert re.search(rf'<li id="m-{first}" [^>]*data-focus="center">', page)
        seen = ids(page)
        assert seen == expected[expected.index(seen[0]):expected.index(seen[0]) + len(seen)]
        assert seen.index(first) > 0 and link(page, "older")  # a few earlier messages, and the way further back
        newer = link(page, "newer")
        while newer:
            fragment = (await http.get(newer)).text
            seen += ids(fragment)
            newer = link(fragment, "newer")
    assert seen == expected[expected.index(seen[0]):]


async def test_the_stable_link_of_a_message_opens_the_timeline_around_it_with_its_reply(trantor):
    entry = next(m for m in trantor.raw["messages"] if m.get("reply_to_message_id") == 90 and m["id"] == 99)
    quoted = next(m for m in trantor.raw["messages"] if m["id"] == 90)
    async with client(create_app(trantor.settings)) as http:
        page = (await http.get(f"/chats/{trantor.chat_id}/{entry['id']}")).text
    expected = in_order(trantor)
    seen = ids(page)
    assert entry["id"] in seen and 0 < seen.index(entry["id"]) < len(seen) - 1
    assert seen == expected[expected.index(seen[0]):expected.index(seen[0]) + len(seen)]
    item = page.split(f'<li id="m-{entry["id"]}"', 1)[1].split("</li>", 1)[0]
    assert "focus" in item.split(">", 1)[0]
    assert f'<a class="reply" href="/chats/{trantor.chat_id}/90#m-90">' in item
    assert flat_text(quoted["text"])[:40] in item.replace("&#34;", '"').replace("&#39;", "'").replace("&amp;", "&")
    assert f'href="/chats/{trantor.chat_id}/{entry["id"]}/edits">edited' in item  # the export marks it edited


async def test_the_edit_history_page_lists_the_archived_versions(trantor):
    entry = next(m for m in trantor.raw["messages"] if "edited" in m and re.fullmatch(r"[\w ]{10,}", flat_text(m["text"])[:10]))
    async with client(create_app(trantor.settings)) as http:
        page = (await http.get(f"/chats/{trantor.chat_id}/{entry['id']}/edits")).text
    assert "Version 1" in page and "Version 2" not in page  # an export keeps the last text only
    assert flat_text(entry["text"])[:10] in page


async def test_the_gallery_pages_through_every_image_of_a_message_with_several(trantor, monkeypatch):
    chat = 4343
    await written(trantor.settings, message_event(chat, 1, text="three images"), message_event(chat, 2, text="one"))
    images = {(1, MediaKind.PHOTO): "1" * 64, (1, MediaKind.STICKER): "2" * 64, (1, MediaKind.DOCUMENT): "3" * 64,
              (2, MediaKind.PHOTO): "4" * 64}
    conn = await asyncpg.connect(trantor.settings.database_url)
    try:
        await upsert_media(conn, [MediaRow(chat, message, kind, MediaStatus.STORED, sha256=sha, mime_type="image/png")
                                  for (message, kind), sha in images.items()])
    finally:
        await conn.close()
    monkeypatch.setattr(gallery, "PER_PAGE", 2)  # a page boundary inside message 1's three images
    seen, path = [], f"/chats/{chat}/media"
    async with client(create_app(trantor.settings)) as http:
        while path:
            html = (await http.get(path)).text
            page = re.findall(r'href="/chats/4343/(\d+)#m-\d+"><img src="/media/([0-9a-f]{64})/thumbnail"', html)
            assert 0 < len(page) <= 2
            seen += [(int(message), sha) for message, sha in page]
            older = re.search(r'href="(/chats/4343/media\?before=[^"]+)"', html)
            path = older.group(1) if older else None
    assert sorted(seen) == sorted((message, sha) for (message, _), sha in images.items())
    assert [message for message, _ in seen] == [2, 1, 1, 1]  # newest message first


async def test_archive_text_is_escaped_everywhere(trantor, evil):
    async with client(create_app(trantor.settings)) as http:
        pages = [(await http.get(path)).text for path in ("/", f"/chats/{EVIL_CHAT}", f"/chats/{EVIL_CHAT}/1")]
    for html in pages:
        assert "<script>window" not in html and 'onerror="window' not in html and "<b onmouseover" not in html
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;&lt;img src=x onerror=&#34;window.__pwned=2&#34;&gt;" in pages[1]
    assert "&lt;b onmouseover=&#34;x()&#34;&gt;evil&lt;/b&gt;" in pages[0]


async def test_every_page_sends_the_content_security_policy_and_has_no_inline_script_or_style(trantor, evil):
    message = next(m["id"] for m in trantor.raw["messages"] if "photo" in m)
    paths = ["/", f"/chats/{trantor.chat_id}", f"/chats/{trantor.chat_id}/{message}", f"/chats/{trantor.chat_id}/media",
             f"/chats/{trantor.chat_id}/{message}/edits", f"/chats/{EVIL_CHAT}", "/chats/1", "/search?q=window",
             '/search?q="', "/static/viewer.css"]
    async with client(create_app(trantor.settings)) as http:
        for path in paths:
            response = await http.get(path)
            policy = response.headers["content-security-policy"]
            assert "script-src 'self'" in policy and "style-src 'self'" in policy and "unsafe" not in policy, path
            assert response.headers["x-content-type-options"] == "nosniff"
            if path.startswith("/static"):
                continue
            assert not re.search(r"<script(?![^>]*\bsrc=)", response.text), path
            assert not re.search(r"<[a-z][^>]*\s(style|on[a-z]+)=|<style", response.text), path


@pytest.mark.parametrize(("path", "status", "says"), [
    ("/chats/999", 404, "no chat 999 is archived"),
    ("/chats/{chat}/999999", 404, "message 999999 of chat {chat} is not archived"),
    ("/chats/{chat}/999999/edits", 404, "message 999999 of chat {chat} is not archived"),
    ("/chats/{chat}?date=yesterday", 422, "date: &#39;yesterday&#39; is not an ISO 8601 date"),
    ("/chats/{chat}?before=bm90IGEgY3Vyc29y", 422, "cursor: not a cursor this API gave"),
    ("/chats/{chat}/fragment", 422, "give exactly one of before and after"),
    ("/chats/{chat}/fragment?before=x&amp;after=y", 422, "give exactly one"),
    ("/chats/{chat}/media?before=%00", 422, "cursor"),
    ("/chats/abc", 422, "chat_id"),
    ("/chats/{chat}/1x", 422, "message_id"),
    ("/no/such/page", 404, "Not Found"),
])
async def test_bad_input_gets_an_html_error_page(trantor, path, status, says):
    chat = str(trantor.chat_id)
    async with client(create_app(trantor.settings)) as http:
        response = await http.get(path.replace("{chat}", chat).replace("&amp;", "&"))
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert says.replace("{chat}", chat) in response.text and "Traceback" not in response.text
    assert "<title>" in response.text and 'href="/"' in response.text


async def test_the_json_api_keeps_its_problems(trantor):
    async with client(create_app(trantor.settings)) as http:
        response = await http.get("/api/v1/chats/999/messages")
    assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"
