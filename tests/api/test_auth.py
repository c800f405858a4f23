"""TGPIPE_API_TOKEN: when set, every endpoint but /health needs it; CORS only when configured."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from services.api.app import create_app
from tests.support.api import client

pytestmark = pytest.mark.e2e


async def test_with_a_token_set_every_endpoint_but_health_requires_it(trantor):
    settings = trantor.settings.model_copy(update={"api_token": SecretStr("s3cret-token")})
    paths = ["/api/v1/chats", f"/api/v1/chats/{trantor.chat_id}/coverage",
             f"/api/v1/chats/{trantor.chat_id}/messages", f"/api/v1/chats/{trantor.chat_id}/messages/1",
             f"/api/v1/history/{trantor.chat_id}?start_date=2023-08-01&end_date=2023-08-02", "/media/" + "0" * 64]
    app = create_app(settings)
    async with client(app) as anonymous:
        assert (await anonymous.get("/health")).json() == {"status": "ok"}
        for path in paths:
            response = await anonymous.get(path)
            assert response.status_code == 401, path
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.headers["content-type"] == "application/problem+json"
            wrong = await anonymous.get(path, headers={"Authorization": "Bearer s3cret-tokem"})
            assert wrong.status_code == 401, path
    async with client(app, token="s3cret-token") as http:
        for path in paths:
            assert (await http.get(path)).status_code in (200, 404), path


async def test_no_cors_headers_unless_origins_are_configured(trantor):
    origin = {"Origin": "https://viewer.example"}
    async with client(create_app(trantor.settings)) as http:
        assert "access-control-allow-origin" not in (await http.get("/api/v1/chats", headers=origin)).headers
    configured = trantor.settings.model_copy(update={"api_cors_origins": ["https://viewer.example"]})
    async with client(create_app(configured)) as http:
        response = await http.get("/api/v1/chats", headers=origin)
    assert response.headers["access-control-allow-origin"] == "https://viewer.example"
