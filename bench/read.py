#!/usr/bin/env python
"""Benchmark of the read side: the history API on an archive of N messages.

    ./dev python bench/read.py --messages 1000000 [--chats 4] [--json out.json]

A fresh database on ``TGPIPE_DATABASE_URL``'s server (a role that may create databases), else on
the embedded PostgreSQL in a temporary home, migrated to head and filled by SQL (``generate_series``:
the write path is bench/pipeline.py's): ``--chats`` chats of N/chats messages each, one message every
30 s, texts of 60 to 460 characters, 50 senders, each chat's whole span in the coverage ledger.
Then the API (``services.api``) is served by uvicorn on 127.0.0.1 in a thread and read over HTTP:

* **history**: ``GET /api/v1/history/{chat}`` of one chat's whole span (N/chats messages), the
  server-sent events read to the ``end`` event: messages per second from PostgreSQL to the client
  (median of ``--repeat`` runs);
* **page**: ``GET /api/v1/chats/{chat}/messages?limit=100`` from ``--pages`` random start dates:
  latency p50/p99 (ms);
* **plans**: ``EXPLAIN (ANALYZE, BUFFERS)`` of the page query and of the history's batch query (the
  same keyset query), which must not scan ``messages`` sequentially.

Not a test: tests never assert on time. Measures on a shared machine vary; compare runs of one session.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.api.app import create_app  # noqa: E402
from tgpipe.db.migrations import upgrade  # noqa: E402
from tgpipe.runtime.embedded import embedded_settings  # noqa: E402
from tgpipe.settings import Settings  # noqa: E402

T0 = datetime(2020, 1, 1, tzinfo=UTC)
STEP_S = 30
_FILL = """
INSERT INTO messages (channel_id, message_id, kind, date, sender_type, sender_id, text, raw, source_event_id,
                      version_sha256)
SELECT $1, i, 'message', $2::timestamptz + make_interval(secs => i * {step}), 'user', 1 + i % 50,
       repeat(md5(i::text), 2 + i % 13), jsonb_build_object('id', i), gen_random_uuid(),
       encode(sha256(int8send(i)), 'hex')
FROM generate_series(1, $3) AS i
"""
_PAGE_PLAN = """
EXPLAIN (ANALYZE, BUFFERS)
SELECT m.channel_id, m.message_id, m.kind, m.date, m.edit_date, m.sender_type, m.sender_id, s.name, m.text,
       m.reply_to_message_id, m.forwarded_from, m.media_kind, m.deleted_at
FROM messages m LEFT JOIN senders s ON s.peer_type = m.sender_type AND s.peer_id = m.sender_id
WHERE m.channel_id = $1 AND (m.date, m.message_id) > ($2, $3) AND m.date <= $4
  AND ($5::bigint IS NULL OR m.sender_id = $5)
ORDER BY m.channel_id, m.date, m.message_id LIMIT $6
"""


def database_url(url: str, name: str) -> str:
    """``url`` with its database replaced by ``name``."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@contextlib.contextmanager
def scratch_database(server_url: str, prefix: str) -> Iterator[str]:
    """URL of a new database ``<prefix>_<hex>`` on ``server_url``'s server, migrated to head; dropped on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    asyncio.run(admin(server_url, f'CREATE DATABASE "{name}"'))
    try:
        url = database_url(server_url, name)
        upgrade(url)
        yield url
    finally:
        asyncio.run(admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def on_embedded(run: Callable[[str, argparse.Namespace, Path], dict], args: argparse.Namespace, prefix: str) -> dict:
    """``run(server_url, args, home)`` on the embedded PostgreSQL, started in a temporary home
    (``prefix``) and stopped after; ``server_url`` names its maintenance database."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        with embedded_settings(Settings(home=Path(tmp), kafka_bootstrap_servers="unused:9092"), kafka=False) as s:
            return run(database_url(s.database_url, "postgres"), args, Path(tmp))


async def fill(url: str, chats: int, per_chat: int) -> None:
    """Chats ``1..chats`` with ``per_chat`` messages each, their senders, and full coverage."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("INSERT INTO senders (peer_type, peer_id, name) "
                           "SELECT 'user', i, 'sender ' || i FROM generate_series(1, 50) AS i")
        for chat in range(1, chats + 1):
            await conn.execute("INSERT INTO channels (channel_id, type, title) VALUES ($1, 'public_channel', $2)",
                               chat, f"chat {chat}")
            await conn.execute(_FILL.format(step=STEP_S), chat, T0, per_chat)
            await conn.execute(
                "INSERT INTO coverage (event_id, channel_id, message_ids, dates, source) "
                "VALUES ($1, $2, int8range(1, $3, '[]'), tstzrange($4, $5, '[]'), 'export')",
                uuid.uuid4(), chat, per_chat, T0, T0 + timedelta(seconds=STEP_S * per_chat))
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


@contextlib.contextmanager
def served(settings: Settings):
    """The API served by uvicorn on a free port of 127.0.0.1 in a thread; yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the API did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def history_rate(base: str, chat: int, per_chat: int) -> float:
    """Messages per second of one chat's whole span, read to the ``end`` event."""
    end = (T0 + timedelta(seconds=STEP_S * per_chat)).isoformat()
    count, started = 0, time.perf_counter()
    with httpx.stream("GET", f"{base}/api/v1/history/{chat}", params={"start_date": T0.isoformat(), "end_date": end},
                      timeout=600) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith("data: {\"messages\""):
                count += len(json.loads(line[6:])["messages"])
            elif line == "event: end":
                break
    elapsed = time.perf_counter() - started
    if count != per_chat:
        raise RuntimeError(f"history served {count} messages, expected {per_chat}")
    return count / elapsed


def page_latencies(base: str, chats: int, per_chat: int, pages: int) -> list[float]:
    """Milliseconds of ``pages`` pages of 100 messages from random start dates."""
    rng, out = random.Random(7), []
    with httpx.Client(base_url=base, timeout=60) as http:
        for _ in range(pages):
            chat = rng.randint(1, chats)
            start = T0 + timedelta(seconds=STEP_S * rng.randint(1, per_chat - 200))
            params = {"start_date": start.isoformat(), "end_date": (start + timedelta(days=30)).isoformat(), "limit": 100}
            began = time.perf_counter()
            response = http.get(f"/api/v1/chats/{chat}/messages", params=params)
            out.append((time.perf_counter() - began) * 1000)
            response.raise_for_status()
            if len(response.json()["messages"]) != 100:
                raise RuntimeError("a page did not hold 100 messages")
    return out


async def plan(url: str, per_chat: int) -> str:
    conn = await asyncpg.connect(url)
    try:
        key = T0 + timedelta(seconds=STEP_S * (per_chat // 2))
        rows = await conn.fetch(_PAGE_PLAN, 1, key, per_chat // 2, key + timedelta(days=30), None, 100)
        return "\n".join(r[0] for r in rows)
    finally:
        await conn.close()


def run(server_url: str, args: argparse.Namespace, home: Path) -> dict:
    with scratch_database(server_url, "tgpipe_bench_read") as url:
        per_chat = args.messages // args.chats
        began = time.perf_counter()
        asyncio.run(fill(url, args.chats, per_chat))
        fill_s = time.perf_counter() - began
        settings = Settings(database_url=url, home=home, api_history_batch=args.batch)
        with served(settings) as base:
            rates = [history_rate(base, 1 + i % args.chats, per_chat) for i in range(args.repeat)]
            latencies = page_latencies(base, args.chats, per_chat, args.pages)
        page_plan = asyncio.run(plan(url, per_chat))
        quantiles = statistics.quantiles(latencies, n=100)
        return {
            "messages": per_chat * args.chats, "chats": args.chats, "fill_s": round(fill_s, 1),
            "history_messages_per_s": round(statistics.median(rates)), "history_runs": [round(r) for r in rates],
            "history_batch": args.batch, "page_p50_ms": round(quantiles[49], 2), "page_p99_ms": round(quantiles[98], 2),
            "pages": args.pages, "page_plan": page_plan, "seq_scan_of_messages": "Seq Scan on messages" in page_plan,
        }


async def admin(server_url: str, statement: str) -> None:
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def main_on_embedded(doc: str, arguments: Callable[[argparse.ArgumentParser], None],
                     run: Callable[[str, argparse.Namespace, Path], dict], prefix: str,
                     show: Callable[[dict], None], argv: list[str] | None = None) -> dict:
    """A read-side benchmark's command line: ``--messages`` and ``--chats`` (default 100,000 and 4),
    the options ``arguments`` adds and ``--json PATH``; then ``run`` on the embedded PostgreSQL
    (:func:`on_embedded`), ``show(result)`` on stdout, the result written as JSON to PATH when given.
    ``doc``'s first paragraph is the help's description."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--chats", type=int, default=4)
    arguments(parser)
    parser.add_argument("--json", type=Path, help="also write the result as JSON here")
    args = parser.parse_args(argv)
    result = on_embedded(run, args, prefix)
    show(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    return result


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeat", type=int, default=3, help="history runs (median)")
    parser.add_argument("--pages", type=int, default=300, help="pages of 100 measured")
    parser.add_argument("--batch", type=int, default=500, help="TGPIPE_API_HISTORY_BATCH")


def _show(result: dict) -> None:
    for key, value in result.items():
        if key != "page_plan":
            print(f"{key:>24}: {value}")
    print(result["page_plan"])


def main() -> None:
    main_on_embedded(__doc__, _arguments, run, "tgpipe-bench-read-", _show)


if __name__ == "__main__":
    main()
