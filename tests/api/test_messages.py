"""GET /api/v1/chats/{chat_id}/messages (pages) and …/messages/{message_id} (one message)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.api.app import create_app
from tests.support.api import client, export_messages, flat_text

pytestmark = pytest.mark.e2e


async def test_pages_round_trip_the_whole_chat_in_order(trantor):
    expected = export_messages(trantor.raw, trantor.zone, datetime.min.replace(tzinfo=UTC),
                               datetime.max.replace(tzinfo=UTC))
    served, pages, cursor = [], 0, None
    async with client(create_app(trantor.settings.model_copy(update={"api_page_limit": 100}))) as http:
        while True:
            response = await http.get(f"/api/v1/chats/{trantor.chat_id}/messages",
                                      params={"limit": 1000} | ({"cursor": cursor} if cursor else {}))
            assert response.status_code == 200, response.text
            page = response.json()
            assert len(page["messages"]) <= 100  # the limit asked is capped by TGPIPE_API_PAGE_LIMIT
            assert page["covered"] is True  # the default period is the chat's first to last message
            served += [(m["message_id"], datetime.fromisoformat(m["date"]), m["text"]) for m in page["messages"]]
            pages += 1
            if (cursor := page["next_cursor"]) is None:
                break
    assert served == expected
    assert pages == -(-len(expected) // 100)


async def test_a_page_of_a_period_says_whether_it_is_covered(trantor):
    async with client(create_app(trantor.settings)) as http:
        inside = (await http.get(f"/api/v1/chats/{trantor.chat_id}/messages",
                                 params={"start_date": "2023-08-01", "end_date": "2023-08-31", "limit": 5})).json()
        beyond = (await http.get(f"/api/v1/chats/{trantor.chat_id}/messages",
                                 params={"start_date": "2025-02-01", "end_date": "2025-03-31"})).json()
    august = export_messages(trantor.raw, trantor.zone, datetime(2023, 8, 1, tzinfo=UTC),
                             datetime(2023, 8, 31, 23, 59, 59, 999999, tzinfo=UTC))
    assert inside["covered"] is True and [m["message_id"] for m in inside["messages"]] == [m[0] for m in august[:5]]
    assert inside["next_cursor"] is not None
    february = export_messages(trantor.raw, trantor.zone, datetime(2025, 2, 1, tzinfo=UTC),
                               datetime(2025, 3, 31, tzinfo=UTC))
    assert beyond["covered"] is False and [m["message_id"] for m in beyond["messages"]] == [m[0] for m in february]


async def test_the_sender_filter_keeps_that_senders_messages(hejazizo):
    raw = hejazizo.raw
    sender = sender_id = raw["messages"][-1]["from_id"]  # a 2020 export: a bare user id
    assert isinstance(sender_id, int)
    async with client(create_app(hejazizo.settings.model_copy(update={"api_page_limit": 10_000}))) as http:
        page = (await http.get(f"/api/v1/chats/{hejazizo.chat_id}/messages",
                               params={"sender": sender_id, "limit": 10_000})).json()
    assert sorted(m["message_id"] for m in page["messages"]) == sorted(
        m["id"] for m in raw["messages"] if m.get("from_id") == sender)
    assert {m["sender"]["id"] for m in page["messages"]} == {sender_id}


@pytest.mark.parametrize("cursor", ["not base64!", "WzEsMl0", "bm90IGpzb24"])
async def test_a_cursor_the_api_did_not_give_is_422(trantor, cursor):
    async with client(create_app(trantor.settings)) as http:
        response = await http.get(f"/api/v1/chats/{trantor.chat_id}/messages", params={"cursor": cursor})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["parameter"] == "cursor"


async def test_a_limit_out_of_bounds_is_422_naming_it(trantor):
    async with client(create_app(trantor.settings)) as http:
        response = await http.get(f"/api/v1/chats/{trantor.chat_id}/messages", params={"limit": 0})
    assert response.status_code == 422 and response.json()["parameter"] == "limit"


async def test_one_message_with_its_reply_and_media(trantor):
    raw = {m["id"]: m for m in trantor.raw["messages"]}
    reply = next(m for m in raw.values() if m.get("reply_to_message_id") in raw)
    photo = next(m for m in raw.values() if "photo" in m)
    async with client(create_app(trantor.settings)) as http:
        replying = (await http.get(f"/api/v1/chats/{trantor.chat_id}/messages/{reply['id']}")).json()
        with_photo = (await http.get(f"/api/v1/chats/{trantor.chat_id}/messages/{photo['id']}")).json()
        image = await http.get(with_photo["media"][0]["url"])
    original = raw[reply["reply_to_message_id"]]
    assert replying["text"] == flat_text(reply.get("text", ""))
    assert replying["reply_to"]["message_id"] == original["id"]
    assert replying["reply_to"]["text"] == flat_text(original.get("text", ""))
    assert [v["text"] for v in replying["versions"]] == [replying["text"]]
    assert replying["deleted_at"] is None
    [media] = with_photo["media"]
    assert media["kind"] == "photo" and media["status"] == "stored"
    assert image.content == (trantor.raw_dir / photo["photo"]).read_bytes()


async def test_an_unknown_message_or_chat_is_404(trantor):
    async with client(create_app(trantor.settings)) as http:
        message = await http.get(f"/api/v1/chats/{trantor.chat_id}/messages/999999999")
        chat = await http.get("/api/v1/chats/42/messages")
    assert message.status_code == 404 and message.json()["type"] == "urn:tgpipe:problem:unknown-message"
    assert chat.status_code == 404 and chat.json()["type"] == "urn:tgpipe:problem:unknown-chat"
    assert chat.headers["content-type"] == "application/problem+json"
