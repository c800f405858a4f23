"""What routes depend on: the settings, a read-only connection, the fetcher, the bearer token."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import AsyncIterator
from typing import Annotated

import asyncpg
from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.api import queries
from services.api.problems import Problem
from tgpipe.kafka.fetch import RangeFetcher
from tgpipe.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="TGPIPE_API_TOKEN, when the server sets one")


def get_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    return request.app.state.settings


def get_pool(request: Request) -> asyncpg.Pool:
    """The app's read-only pool (opened by the lifespan)."""
    return request.app.state.pool


def get_fetcher(request: Request) -> RangeFetcher | None:
    """The fetcher of ranges the archive does not cover, or ``None`` (fetching is off)."""
    return request.app.state.fetcher


async def read_connection(pool: Annotated[asyncpg.Pool, Depends(get_pool)]) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection in a READ ONLY, REPEATABLE READ transaction (one snapshot per request)."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        yield conn


#: The cookie the web viewer's login form sets (HttpOnly, SameSite=Strict): :func:`session_value`.
SESSION_COOKIE = "tgpipe_session"


def session_value(settings: Settings) -> str:
    """The value of :data:`SESSION_COOKIE` for ``settings.api_token`` (which must be set): an HMAC-SHA256
    of a fixed label under the token, so the cookie proves the token without holding it."""
    assert settings.api_token is not None
    key = settings.api_token.get_secret_value().encode()
    return hmac.new(key, b"tgpipe web viewer session", hashlib.sha256).hexdigest()


def require_token(request: Request, settings: Annotated[Settings, Depends(get_settings)],
                  credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    """Refuse a request without ``Authorization: Bearer <TGPIPE_API_TOKEN>`` or the web viewer's session
    cookie (:data:`SESSION_COOKIE`) when a token is set (both compared in constant time). Pages turn the
    refusal into a redirect to the login page (:mod:`services.api.pages.errors`).

    Raises:
        Problem: 401 with ``WWW-Authenticate: Bearer``.
    """
    if settings.api_token is None:
        return
    expected = settings.api_token.get_secret_value().encode()
    given = credentials.credentials.encode() if credentials is not None else b""
    cookie = request.cookies.get(SESSION_COOKIE, "").encode()
    bearer_ok = secrets.compare_digest(given, expected)
    cookie_ok = secrets.compare_digest(cookie, session_value(settings).encode())
    if not (bearer_ok or cookie_ok):
        raise Problem(401, "unauthorized", "a valid bearer token is required (Authorization: Bearer …)",
                      headers={"WWW-Authenticate": "Bearer"})


Connection = Annotated[asyncpg.Connection, Depends(read_connection)]

#: A Telegram id as PostgreSQL stores it (``bigint``).
BIGINT = {"ge": -(2**63), "le": 2**63 - 1}


ChatIdPath = Annotated[int, Path(description="the chat's Telegram id", **BIGINT)]


async def require_chat(conn: asyncpg.Connection, chat_id: int) -> int:
    """``chat_id`` when the archive holds that chat.

    Raises:
        Problem: 404 when it does not.
    """
    if not await queries.chat_exists(conn, chat_id):
        raise Problem(404, "unknown-chat", f"no chat {chat_id} is archived")
    return chat_id


async def known_chat(chat_id: ChatIdPath, conn: Connection) -> int:
    """The path's ``chat_id`` of an archived chat (404 otherwise: :func:`require_chat`)."""
    return await require_chat(conn, chat_id)


ChatId = Annotated[int, Depends(known_chat)]
