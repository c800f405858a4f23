#!/usr/bin/env python
"""Where PostgreSQL spends its work per message of the writer's transaction, one part at a time.

    ./dev python bench/db_costs.py [--messages 100000] [--variants all] [--json out.json]

Runs :func:`services.writer.persist.write_batch` over the benchmark's workload (:mod:`bench.workload`,
already decoded: no broker) in batches of 500, once per variant, each in a fresh database migrated to
head on its own embedded PostgreSQL (a temporary home; or the server of ``TGPIPE_DATABASE_URL``,
whose WAL other databases share). A variant removes one part of the work (an index, the versions
row, the search columns) or stores ``raw`` another way, so its difference to ``as is`` is what that
part costs. Per message:

* **PostgreSQL CPU**: user + system time of the connection's backend process (``/proc/<pid>/stat``
  of ``pg_backend_pid()``; the server must run on this machine), µs;
* **WAL**: ``pg_current_wal_lsn()`` before and after, bytes;
* **disk**: ``pg_total_relation_size`` of ``messages`` and ``message_versions`` (heap, TOAST and
  indexes) after the run, bytes; and ``pg_column_size(raw)``, the stored ``raw`` value; with
  ``--sizes``, every relation of the two tables apart (:func:`relation_sizes`: heap, TOAST, each index);
* **client CPU**: this process's CPU time in ``write_batch`` (rows, COPY, asyncpg), µs.

A first run of "as is", not reported, warms the server up: the first run on a new server creates
its WAL segments, zero-filled by the writing backend, which cost the first variant 50–100 µs of
CPU per message that the later ones, recycling the segments, do not pay.

Not a test, and not the writer's throughput (bench/pipeline.py): the parts' costs, measured alone.

    ./dev python bench/db_costs.py --sizes-of postgresql://…/db

prints the same per-relation sizes (MB, and bytes per archived message) of an existing archive, e.g.
one ``tgpipe archive`` wrote, and runs nothing else.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import asyncio
import contextlib
import json
import os
import time
from dataclasses import dataclass

import asyncpg

from bench.read import on_embedded, scratch_database
from bench.workload import generate, load_sources
from services.writer import persist

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BATCH = 500
_TICKS = os.sysconf("SC_CLK_TCK")
_VECTOR = "array_to_tsvector(string_to_array(u.search_terms, ' '))"


@dataclass(frozen=True)
class Variant:
    """One way to run the batch: ``setup`` statements after migrating, and textual replacements
    ``(old, new)`` in the writer's SQL (``_APPLY_PART``: the messages upsert and the versions insert); the events with
    ``raw`` emptied; no versions insert at all; or another ``PART_ROWS``."""

    setup: tuple[str, ...] = ()
    sql: tuple[tuple[str, str], ...] = ()
    empty_raw: bool = False
    no_versions: bool = False
    part_rows: int | None = None


VARIANTS = {
    "as is": Variant(),
    "one part per batch (no overlap)": Variant(part_rows=BATCH),
    "no GIN indexes": Variant(setup=("DROP INDEX messages_search_idx", "DROP INDEX message_versions_search_idx")),
    "GIN fastupdate off": Variant(setup=("ALTER INDEX messages_search_idx SET (fastupdate = off)",
                                         "ALTER INDEX message_versions_search_idx SET (fastupdate = off)")),
    "versions GIN pending list 4 MB (before 0010)": Variant(setup=(
        "ALTER INDEX message_versions_search_idx RESET (gin_pending_list_limit)",)),
    "GIN pending list 16 MB": Variant(setup=(
        "ALTER INDEX messages_search_idx SET (gin_pending_list_limit = 16384)",
        "ALTER INDEX message_versions_search_idx SET (gin_pending_list_limit = 16384)")),
    "versions GIN pending list 16 MB": Variant(setup=(
        "ALTER INDEX message_versions_search_idx SET (gin_pending_list_limit = 16384)",)),
    "no versions GIN index": Variant(setup=("DROP INDEX message_versions_search_idx",)),
    "no search columns (NULL)": Variant(sql=((_VECTOR, "NULL::tsvector"), ("u.search_text,", "NULL,"))),
    "no versions row": Variant(no_versions=True),
    "no sender index": Variant(setup=("DROP INDEX messages_sender_idx",)),
    "no chat-date index": Variant(setup=("DROP INDEX messages_chat_date_idx",)),
    "raw lz4": Variant(setup=("ALTER TABLE messages ALTER COLUMN raw SET COMPRESSION lz4",)),
    "raw pglz": Variant(setup=("ALTER TABLE messages ALTER COLUMN raw SET COMPRESSION pglz",)),
    "raw as json": Variant(setup=("ALTER TABLE messages ALTER COLUMN raw TYPE json",),
                           sql=(("u.raw::jsonb", "u.raw::json"),)),
    "raw as json + lz4": Variant(setup=("ALTER TABLE messages ALTER COLUMN raw TYPE json",
                                       "ALTER TABLE messages ALTER COLUMN raw SET COMPRESSION lz4"),
                                sql=(("u.raw::jsonb", "u.raw::json"),)),
    "raw = {}": Variant(empty_raw=True),
}


_TABLES = ("messages", "message_versions", "media")
_RELATIONS = """
SELECT t.relname AS name, pg_relation_size(t.oid) AS heap,
       coalesce(pg_total_relation_size(nullif(t.reltoastrelid, 0)), 0) AS toast,
       pg_total_relation_size(t.oid) AS total,
       array(SELECT i.relname::text FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
             WHERE x.indrelid = t.oid ORDER BY i.relname) AS indexes,
       array(SELECT pg_relation_size(x.indexrelid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
             WHERE x.indrelid = t.oid ORDER BY i.relname) AS index_sizes
FROM pg_class t WHERE t.oid = ANY($1::regclass[])
"""


async def relation_sizes(conn: asyncpg.Connection) -> dict[str, int]:
    """Bytes on disk of the archive's big tables (:data:`_TABLES`), one relation at a time:
    ``"<table>"`` (everything: ``pg_total_relation_size``), ``"<table>.heap"`` (main fork),
    ``"<table>.toast"`` (TOAST table and its index), ``"<index>"`` per index, and ``"database"``
    (``pg_database_size``, every table)."""
    sizes: dict[str, int] = {}
    for row in await conn.fetch(_RELATIONS, list(_TABLES)):
        sizes |= {row["name"]: row["total"], f"{row['name']}.heap": row["heap"], f"{row['name']}.toast": row["toast"]}
        sizes |= dict(zip(row["indexes"], row["index_sizes"], strict=True))
    sizes["database"] = await conn.fetchval("SELECT pg_database_size(current_database())")
    return sizes


async def print_sizes(url: str) -> None:
    """Print :func:`relation_sizes` of the database at ``url``: MB and bytes per message of ``messages``."""
    conn = await asyncpg.connect(url)
    try:
        sizes = await relation_sizes(conn)
        n = await conn.fetchval("SELECT count(*) FROM messages")
    finally:
        await conn.close()
    print(f"{n:,} messages")
    for name, size in sizes.items():
        print(f"{name:32} {size / 1e6:9.1f} MB {size / max(n, 1):9.0f} bytes/message")


def backend_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


@contextlib.contextmanager
def patched_sql(variant: Variant):
    """The writer's statements with ``variant.sql`` applied and its ``PART_ROWS``, restored on exit."""
    names = ("_APPLY_PART", "PART_ROWS")
    saved = {name: getattr(persist, name) for name in names}
    try:
        text = saved["_APPLY_PART"]
        for old, new in variant.sql:
            text = text.replace(old, new)
        persist._APPLY_PART = text
        persist.PART_ROWS = variant.part_rows or saved["PART_ROWS"]
        if variant.no_versions:
            persist._APPLY_PART = persist._UPSERT_MESSAGES
        yield
    finally:
        for name, text in saved.items():
            setattr(persist, name, text)


async def run_variant(url: str, variant: Variant, batches: list[list], sizes_apart: bool = False) -> dict[str, float]:
    """One variant's costs per message over ``batches`` (keys as the module docstring lists them;
    with ``sizes_apart``, :func:`relation_sizes` too, as ``"<relation>_bytes"``)."""
    conn = await asyncpg.connect(url)
    try:
        for statement in variant.setup:
            await conn.execute(statement)
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        lsn = await conn.fetchval("SELECT pg_current_wal_lsn()")
        server, client, wall = backend_cpu_s(pid), time.process_time(), time.perf_counter()
        with patched_sql(variant):
            for batch in batches:
                await persist.write_batch(conn, batch)
        server, client = backend_cpu_s(pid) - server, time.process_time() - client
        wall = time.perf_counter() - wall
        wal = await conn.fetchval("SELECT pg_current_wal_lsn() - $1::pg_lsn", lsn)
        sizes = await conn.fetchrow(
            "SELECT pg_total_relation_size('messages') AS messages, pg_total_relation_size('message_versions') "
            "AS versions, (SELECT sum(pg_column_size(raw)) FROM messages) AS raw, "
            "(SELECT sum(octet_length(raw::text)) FROM messages) AS raw_text")
        relations = await relation_sizes(conn) if sizes_apart else {}
    finally:
        await conn.close()
    n = sum(map(len, batches))
    return {"postgres_cpu_us": server / n * 1e6, "client_cpu_us": client / n * 1e6, "wall_us": wall / n * 1e6,
            "wal_bytes": float(wal) / n, "messages_bytes": sizes["messages"] / n,
            "versions_bytes": sizes["versions"] / n, "raw_stored_bytes": sizes["raw"] / n,
            "raw_text_bytes": sizes["raw_text"] / n} | {f"{k}_bytes": v / n for k, v in relations.items()}


def measure(server_url: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    events = [event for event, _chat in generate(load_sources(args.data), args.messages, args.seed)]
    no_raw = [e.model_copy(update={"payload": e.payload.model_copy(update={
        "message": e.payload.message.model_copy(update={"raw": {}})})}) for e in events]
    results = {}
    # The first run on a server creates its WAL segments (zero-filled by the writing backend: CPU
    # the later runs, which recycle them, do not pay): one run of "as is" first, not reported.
    for name in ["warm-up", *args.variants]:
        variant = VARIANTS.get(name, Variant())
        chosen = no_raw if variant.empty_raw else events
        batches = [chosen[i:i + BATCH] for i in range(0, len(chosen), BATCH)]
        with scratch_database(server_url, "tgpipe_bench_db_costs") as url:
            try:
                results[name] = {k: round(v, 1) for k, v in asyncio.run(run_variant(url, variant, batches, args.sizes)).items()}
            except asyncpg.FeatureNotSupportedError as exc:  # lz4 on a server built without it
                print(f"{name}: not supported by this server: {exc}", flush=True)
                continue
        if name == "warm-up":
            del results[name]
            continue
        print(name, results[name], flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", "-n", type=int, default=100_000)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--variants", default="all", help=f"comma-separated, of: {', '.join(VARIANTS)}")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--sizes", action="store_true", help="report every relation's size apart (heap, TOAST, indexes)")
    parser.add_argument("--sizes-of", metavar="URL", help="only print the relation sizes of this database")
    args = parser.parse_args()
    if args.sizes_of:
        asyncio.run(print_sizes(args.sizes_of))
        return
    args.variants = list(VARIANTS) if args.variants == "all" else args.variants.split(",")
    if unknown := set(args.variants) - set(VARIANTS):
        parser.error(f"unknown variants: {', '.join(sorted(unknown))}")
    if url := os.environ.get("TGPIPE_DATABASE_URL"):
        results = measure(url, args)
    else:
        results = on_embedded(lambda server_url, a, _home: measure(server_url, a), args, "tgpipe-bench-db-costs-")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
