"""Helpers of the API tests: an archive made through the real pipeline, a client on the app, the
server-sent events of a response, and an independent read of an export's messages."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import uvicorn
from fastapi import FastAPI

from schemas import MessageUpserted
from services.writer.persist import write_batch
from tests.support.broker import KafkaEndpoint, topic_settings
from tests.support.data import SHARED_DATA
from tests.support.database import fresh_database
from tgpipe.ops.archive import archive
from tgpipe.settings import Settings


@dataclass(frozen=True)
class Archived:
    """An export archived through the pipeline: its ``settings`` (database, media store), ``raw``
    ``result.json``, the chat's id, the zone of its local dates, and the export's directory."""

    settings: Settings
    raw: dict[str, Any]
    chat_id: int
    zone: str
    raw_dir: Path


@contextlib.asynccontextmanager
async def archived_export(postgres_url: str, template: str, kafka: KafkaEndpoint, home: Path,
                          name: str, zone: str) -> AsyncIterator[Archived]:
    """Shared export ``name`` archived by ``tgpipe archive``'s job into a fresh database (which records
    its first..last message in the coverage ledger, source ``export``)."""
    export = SHARED_DATA / name
    raw = json.loads((export / "result.json").read_text(encoding="utf-8"))
    async with fresh_database(postgres_url, template) as url, topic_settings(url, kafka, home) as settings:
        settings = settings.model_copy(update={"export_timezone": zone})
        await archive(settings, export)
        yield Archived(settings, raw, raw["id"], zone, export)


async def written(settings: Settings, *events: MessageUpserted) -> None:
    """``events`` applied to ``settings.database_url`` by the writer (``write_batch``: one transaction)."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        await write_batch(conn, list(events))
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def client(app: FastAPI, token: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on ``app`` (its lifespan run), sending ``token`` as a bearer token when given."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api", headers=headers) as http:
            yield http


def events(body: str) -> list[tuple[str, Any]]:
    """The server-sent events of ``body`` as ``(event name, decoded data)`` (name ``message`` by default)."""
    out = []
    for block in filter(None, body.split("\n\n")):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((fields.get("event", "message"), json.loads(fields["data"])))
    return out


def export_date(entry: dict[str, Any], zone: str) -> datetime:
    """A message's date read from the export itself: ``date_unixtime`` (UTC), else the local ``date`` in ``zone``."""
    if "date_unixtime" in entry:
        return datetime.fromtimestamp(int(entry["date_unixtime"]), UTC)
    return datetime.fromisoformat(entry["date"]).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def flat_text(text: str | list[Any]) -> str:
    """An export ``text``: a string, or pieces (strings or ``{"text": …}`` objects) joined."""
    return text if isinstance(text, str) else "".join(p if isinstance(p, str) else p["text"] for p in text)


def export_messages(raw: dict[str, Any], zone: str, start: datetime, end: datetime) -> list[tuple[int, datetime, str]]:
    """``(id, date, text)`` of the export's messages dated ``start..end`` (inclusive), by (date, id)."""
    found = [(m["id"], export_date(m, zone), flat_text(m.get("text", ""))) for m in raw["messages"]]
    return sorted((f for f in found if start <= f[1] <= end), key=lambda f: (f[1], f[0]))


def free_port() -> int:
    """A TCP port of 127.0.0.1 free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def served_in_thread(app: FastAPI, timeout: float = 30.0) -> Iterator[str]:
    """``app`` served by uvicorn on a free port of 127.0.0.1 in a thread (its own event loop); yields
    its base URL once it listens, stops it on exit."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="api-under-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError(f"the API did not start listening on port {port} within {timeout} s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
