"""Security headers on every response: a Content-Security-Policy that allows scripts, styles and
images from the app itself only (no inline script, no event-handler attribute, no style attribute),
no framing, no MIME sniffing. FastAPI's ``/docs`` and ``/redoc`` (CDN scripts) are left without it."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                           "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
_HEADERS = [(b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
            (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"),
            (b"x-frame-options", b"DENY")]
_UNGUARDED = ("/docs", "/redoc")


class SecurityHeaders:
    """ASGI middleware adding the headers above to each HTTP response (a pure ASGI one: streamed
    responses, such as the history's server-sent events, pass through untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_UNGUARDED):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)
