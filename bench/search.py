#!/usr/bin/env python
"""Benchmark of full-text search: ``GET /api/v1/search`` on an archive of N messages.

    ./dev python bench/search.py --messages 1000000 [--chats 4] [--repeat 20] [--json out.json]

A fresh database on the embedded PostgreSQL (bench/read.py's helpers), migrated to head, filled by
SQL: ``--chats`` chats of N/chats messages, odd chats with the texts of the Chinese export
(trantor-library-channel), even ones with the Persian export's (hejazizo-anon-bot-chat), message
``i`` taking text ``(i * 7919) mod n`` of its export (so every chat holds each text about equally
often). The texts' search columns are computed once per distinct text by
:func:`tgpipe.db.search.document` (as the writer does) and joined in; ``raw`` holds the text
again (a real message's ``raw`` is larger). The GIN index is built after the fill.

Then the API is served by uvicorn on 127.0.0.1 and, for each query of :data:`QUERIES` (a word, a
rare Chinese bigram, a common one), with and without a chat filter, sorted by rank (the default
rank window) and by date, the first page (20 hits) is read ``--repeat`` times: latency p50/p95
(ms), the number of matching messages and whether the rank window was cut. Finally
``EXPLAIN (ANALYZE, BUFFERS)`` of each query's SQL (:func:`services.api.search.statement`).

Not a test: tests never assert on time. Measures on a shared machine vary; compare runs of one session.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.read import STEP_S, T0, main_on_embedded, scratch_database, served  # noqa: E402
from services.api.search import SearchQuery, parse, statement  # noqa: E402
from services.collector.export import flatten_text  # noqa: E402
from tgpipe.db.search import document  # noqa: E402
from tgpipe.settings import Settings  # noqa: E402

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
EXPORTS = ("trantor-library-channel", "hejazizo-anon-bot-chat")
#: name -> (q, chat it is searched within: its export's first chat)
QUERIES = {"word": ("کتاب", 2), "rare_bigram": ("题材", 1), "common_bigram": ("报道", 1)}

_TEXTS = """
CREATE UNLOGGED TABLE bench_texts (export int, n int, text text, search_text text, terms text,
                                   PRIMARY KEY (export, n))
"""
_FILL = """
INSERT INTO messages (channel_id, message_id, kind, date, sender_type, sender_id, text, raw, source_event_id,
                      version_sha256, search_text, search_vector)
SELECT $1, i, 'message', $2::timestamptz + make_interval(secs => i * {step}), 'user', 1 + i % 50,
       t.text, jsonb_build_object('id', i, 'text', t.text), gen_random_uuid(), encode(sha256(int8send(i)), 'hex'),
       t.search_text, array_to_tsvector(string_to_array(t.terms, ' '))
FROM generate_series(1, $3) AS i
JOIN bench_texts t ON t.export = $4 AND t.n = (i * 7919) % $5
"""


def export_texts() -> list[list[str]]:
    """The flattened texts of each export of :data:`EXPORTS`, in file order."""
    return [[flatten_text(m.get("text"))[0] for m in json.loads((SHARED / name / "result.json").read_text("utf-8"))["messages"]]
            for name in EXPORTS]


def normaliser_cost(texts: list[list[str]], rounds: int = 5) -> float:
    """Microseconds per text of :func:`tgpipe.db.search.document` over every text of the exports (best round)."""
    every = [t for export in texts for t in export]
    best = float("inf")
    for _ in range(rounds):
        began = time.perf_counter()
        for text in every:
            document(text)
        best = min(best, time.perf_counter() - began)
    return best / len(every) * 1e6


async def fill(url: str, chats: int, per_chat: int, texts: list[list[str]]) -> None:
    """Chats ``1..chats`` of ``per_chat`` messages with the exports' texts, then the GIN index and ANALYZE."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(_TEXTS)
        rows = [(e, n, t, found.search_text, found.terms)
                for e, export in enumerate(texts) for n, t in enumerate(export) for found in [document(t)]]
        await conn.copy_records_to_table("bench_texts", records=rows)
        await conn.execute("INSERT INTO senders (peer_type, peer_id, name) "
                           "SELECT 'user', i, 'sender ' || i FROM generate_series(1, 50) AS i")
        await conn.execute("DROP INDEX messages_search_idx")
        for chat in range(1, chats + 1):
            export = (chat - 1) % len(texts)
            await conn.execute("INSERT INTO channels (channel_id, type, title) VALUES ($1, 'public_channel', $2)",
                               chat, f"chat {chat}")
            await conn.execute(_FILL.format(step=STEP_S), chat, T0, per_chat, export, len(texts[export]))
        await conn.execute("CREATE INDEX messages_search_idx ON messages USING gin (search_vector)")
        await conn.execute("DROP TABLE bench_texts")
        await conn.execute("VACUUM ANALYZE messages")
    finally:
        await conn.close()


def latencies(base: str, q: str, chat: int | None, sort: str, repeat: int) -> tuple[list[float], dict | None]:
    """Milliseconds of ``repeat`` first pages (20 hits) of ``q`` sorted by ``sort`` (within ``chat``
    when given), and the last page's ``rank_window``."""
    out, window = [], None
    with httpx.Client(base_url=base, timeout=600) as http:
        for _ in range(repeat):
            began = time.perf_counter()
            response = http.get("/api/v1/search",
                                params={"q": q, "sort": sort, "limit": 20} | ({"chat_id": chat} if chat else {}))
            out.append((time.perf_counter() - began) * 1000)
            response.raise_for_status()
            if not response.json()["hits"]:
                raise RuntimeError(f"{q!r} found nothing")
            window = response.json()["rank_window"]
    return out, window


async def explain(url: str, q: str, chat: int | None, sort: str) -> tuple[str, int]:
    """``(EXPLAIN (ANALYZE, BUFFERS) of the first page's SQL, how many messages match)``."""
    conn = await asyncpg.connect(url)
    try:
        sql, args = statement(parse(q), SearchQuery(q=q, chat_id=chat, sort=sort, limit=20))  # type: ignore[arg-type]
        plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *args))
        count_sql, count_args = statement(parse(q), SearchQuery(q=q, chat_id=chat, sort="date", limit=10**9))
        count = await conn.fetchval(f"SELECT count(*) FROM ({count_sql}) AS hits", *count_args)
        return plan, count
    finally:
        await conn.close()


def run(server_url: str, args: argparse.Namespace, home: Path) -> dict:
    texts = export_texts()
    with scratch_database(server_url, "tgpipe_bench_search") as url:
        per_chat = args.messages // args.chats
        began = time.perf_counter()
        asyncio.run(fill(url, args.chats, per_chat, texts))
        fill_s = time.perf_counter() - began
        cases = [(f"{name}{'_in_chat' if chat else ''}{'_by_date' if sort == 'date' else ''}", q, chat, sort)
                 for sort in ("rank", "date") for name, (q, in_chat) in QUERIES.items() for chat in (None, in_chat)]
        with served(Settings(database_url=url, home=home)) as base:
            measured = {name: latencies(base, q, chat, sort, args.repeat) for name, q, chat, sort in cases}
        plans = {name: asyncio.run(explain(url, q, chat, sort)) for name, q, chat, sort in cases}
        sizes = asyncio.run(_sizes(url))
    result: dict = {"messages": per_chat * args.chats, "chats": args.chats, "fill_s": round(fill_s, 1),
                    "repeat": args.repeat, "document_us_per_text": round(normaliser_cost(texts), 1), **sizes,
                    "queries": {}}
    for name, q, chat, sort in cases:
        ms, window = measured[name]
        result["queries"][name] = {
            "q": q, "chat_id": chat, "sort": sort, "matching": plans[name][1], "rank_window": window,
            "p50_ms": round(statistics.median(ms), 1),
            "p95_ms": round(statistics.quantiles(ms, n=20)[18], 1) if len(ms) > 1 else round(ms[0], 1),
            "plan": plans[name][0]}
    return result


async def _sizes(url: str) -> dict:
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow("SELECT pg_relation_size('messages_search_idx') AS index_bytes, "
                                  "pg_total_relation_size('messages') AS messages_bytes, "
                                  "current_setting('server_version') AS server_version, "
                                  "(SELECT datctype FROM pg_database WHERE datname = current_database()) AS lc_ctype")
        return dict(row)
    finally:
        await conn.close()


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeat", type=int, default=20, help="first pages read per query (p50, p95)")


def _show(result: dict) -> None:
    for key, value in result.items():
        if key != "queries":
            print(f"{key:>22}: {value}")
    for name, query in result["queries"].items():
        print(f"{name:>30}: {query['q']} chat={query['chat_id']} sort={query['sort']} matching={query['matching']} "
              f"window={query['rank_window']} p50={query['p50_ms']} ms p95={query['p95_ms']} ms")
    for name, query in result["queries"].items():
        print(f"\n--- {name}\n{query['plan']}")


def main() -> None:
    main_on_embedded(__doc__, _arguments, run, "tgpipe-bench-search-", _show)

if __name__ == "__main__":
    main()
