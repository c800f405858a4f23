"""The viewer behind TGPIPE_API_TOKEN: pages redirect to the login form, which sets an HttpOnly,
SameSite=Strict session cookie that the pages, the media files and the JSON API accept."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from services.api.app import create_app
from services.api.deps import SESSION_COOKIE
from tests.support.api import client

pytestmark = pytest.mark.e2e

TOKEN = "s3cret-token"


@pytest.fixture
def guarded(trantor):
    return create_app(trantor.settings.model_copy(update={"api_token": SecretStr(TOKEN)}))


async def test_a_page_without_the_token_redirects_to_the_login_form(guarded, trantor):
    async with client(guarded) as http:
        response = await http.get(f"/chats/{trantor.chat_id}?date=2024-01-01")
        form = await http.get(response.headers["location"])
        static = await http.get("/static/viewer.css")
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next=%2Fchats%2F{trantor.chat_id}%3Fdate%3D2024-01-01"
    assert form.status_code == 200 and 'type="password"' in form.text and '<label for="token">' in form.text
    assert f'name="next" value="/chats/{trantor.chat_id}?date=2024-01-01"' in form.text
    assert static.status_code == 200  # the login form's own CSS needs no token


async def test_the_right_token_sets_a_strict_httponly_cookie_that_pages_media_and_api_accept(guarded, trantor):
    async with client(guarded) as http:
        response = await http.post("/login", data={"token": TOKEN, "next": f"/chats/{trantor.chat_id}"})
        cookie = response.headers["set-cookie"]
        assert response.status_code == 303 and response.headers["location"] == f"/chats/{trantor.chat_id}"
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and TOKEN not in cookie
        for path in ("/", f"/chats/{trantor.chat_id}", "/search?q=x", "/api/v1/chats"):
            assert (await http.get(path)).status_code == 200, path
        out = await http.post("/logout")
        assert out.status_code == 303
        for path in ("/", "/search?q=x", "/search/fragment?q=x"):
            assert (await http.get(path)).status_code == 303, path  # the cookie is gone


async def test_a_wrong_token_or_a_forged_cookie_is_refused(guarded):
    async with client(guarded) as http:
        wrong = await http.post("/login", data={"token": "s3cret-tokem", "next": "/"})
        assert wrong.status_code == 401 and "set-cookie" not in wrong.headers and "That is not the token" in wrong.text
        http.cookies.set(SESSION_COOKIE, TOKEN)  # the token itself is not the session
        assert (await http.get("/")).status_code == 303
        assert (await http.get("/api/v1/chats")).status_code == 401


async def test_the_bearer_token_opens_the_pages_too(guarded):
    async with client(guarded, token=TOKEN) as http:
        assert (await http.get("/")).status_code == 200


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:x"])
async def test_the_login_never_sends_the_browser_elsewhere(guarded, target):
    async with client(guarded) as http:
        response = await http.post("/login", data={"token": TOKEN, "next": target})
    assert response.status_code == 303 and response.headers["location"] == "/"


async def test_without_a_token_configured_the_viewer_is_open(trantor):
    async with client(create_app(trantor.settings)) as http:
        assert (await http.get("/")).status_code == 200
        login = await http.get("/login?next=/chats/1")
    assert login.status_code == 303 and login.headers["location"] == "/chats/1"
