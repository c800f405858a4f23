"""The benchmark's scenarios as they run inside a worker process (one process per role).

``bench/pipeline.py`` starts each worker as ``python -m bench.scenarios CONFIG.json`` (from the
repository root), so a worker imports only this module and what its role runs.
A worker talks back on stdout with ``@bench {json}`` lines: ``ready`` (consuming may start / has
started), ``started`` (the collector begins publishing) and ``result`` (its measurements, then
it exits). Times are ``time.monotonic()`` (CLOCK_MONOTONIC, comparable between processes).

Roles:

* ``baseline``: the seed approach. aiokafka reads the events; for each message: ``INSERT`` its
  row (autocommit, one round trip; its ``message_versions`` row in the same statement when the
  schema has that table), then ``INSERT`` its photo row. A chat or sender is inserted once, when
  first seen (cached), so parents exist before their children.
* ``ceiling``: aiokafka ``getmany`` batches, ``json.loads``, and one transaction per batch with
  the writer's own multi-row ``unnest`` upserts (``variant="unnest"``) or with the messages
  ``COPY``-ed into a temporary staging table and upserted from there (``variant="copy"``). No
  pydantic, no FastStream, no committed events, no offset commits.
* ``service``: tgpipe's writer and/or media service, assembled as the deployed ``tgpipe writer`` /
  ``tgpipe media`` are (``make_broker`` + ``register_writer``/``register_media`` + the pool) and
  with the hooks :func:`tgpipe.runtime.inprocess.running_services` passes them. Completion comes from those
  hooks (message keys committed / processed), never from end offsets. Not ``running_services``
  itself: :mod:`tgpipe.runtime.inprocess` imports Telethon and the media service, about 55 MB of RSS that
  the deployed writer does not have. Batches are timed by a FastStream middleware on the
  service's broker, commits by wrapping the module-level ``write_batch``/``upsert_media``.
* ``collector``: :func:`services.collector.publish.publish_payloads`, fed either from the events
  file (``source="events"``) or from the shared exports replicated to N (``source="export"``).
* ``archive``: collector, writer and media in this one process with ``running_services`` and a
  :class:`~tgpipe.runtime.progress.ProgressTracker` (what ``tgpipe archive`` did before it ran the
  writer and the media service in processes of their own, :mod:`tgpipe.runtime.children`).

Each role imports only what it runs, so that a worker's RSS is the service's.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import json
import resource
import sys
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import psutil
from aiokafka import AIOKafkaConsumer, TopicPartition

import services.collector.publish as collector_publish
from tgpipe.kafka.broker import make_broker
from bench.workload import Layout, load_sources, read_events, replicate
from schemas import MessageUpserted
from services.collector.publish import publish_payloads
from tgpipe.db import PoolRef, search
from tgpipe.runtime.progress import ProgressTracker, Stage
from tgpipe.settings import Settings

PREFIX = "@bench "


def emit(event: str, **fields: Any) -> None:
    """Tell the orchestrator something (one stdout line)."""
    print(PREFIX + json.dumps({"event": event, **fields}), flush=True)


def rss_mb() -> float:
    """Resident set size of this process now, in MB (10^6 bytes)."""
    return psutil.Process().memory_info().rss / 1e6


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (``VmHWM``), in MB.

    Not ``ru_maxrss``: Linux carries it over ``exec`` from the forked parent, so every worker
    would report at least the orchestrator's size.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def _process_stats(rss_start: float, cpu_start: float) -> dict[str, float]:
    return {"rss_start_mb": round(rss_start, 1), "rss_peak_mb": round(peak_rss_mb(), 1),
            "cpu_s": round(cpu_s() - cpu_start, 2)}


def cpu_s() -> float:
    """User + system CPU seconds of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CountingTracker(ProgressTracker):
    """A :class:`~tgpipe.runtime.progress.ProgressTracker` that also counts, for the writer's and the
    media service's hooks, keys reported again (redeliveries) and keys not in the workload."""

    def __init__(self, layout: Layout) -> None:
        super().__init__()
        self._sizes = dict(layout)
        self.unexpected = 0
        self.repeated = {"committed": 0, "processed": 0}

    def record(self, stage: Stage, keys: Iterable[tuple[int, int]]) -> None:
        keys = list(keys)
        if (name := stage.name.lower()) in self.repeated:
            for key in keys:
                if not 1 <= key[1] <= self._sizes.get(key[0], 0):
                    self.unexpected += 1
                elif self.states.state(key) & stage:
                    self.repeated[name] += 1
        super().record(stage, keys)


class BatchClock:
    """Per-batch timestamps of one service: records, handler entered, DB commit returned, handler left."""

    def __init__(self) -> None:
        self.batches: list[list[float]] = []  # [records, t_in, t_commit, t_out]
        self._current: list[float] | None = None

    def enter(self, records: int) -> None:
        self._current = [records, time.perf_counter(), float("nan"), float("nan")]
        self.batches.append(self._current)

    def committed(self) -> None:
        if self._current is not None:
            self._current[2] = time.perf_counter()

    def leave(self) -> None:
        if self._current is not None:
            self._current[3] = time.perf_counter()
            self._current = None

    def summary(self) -> dict[str, Any]:
        commit = [b[2] - b[1] for b in self.batches if b[2] == b[2]]
        cycle = [b[3] - b[1] for b in self.batches if b[3] == b[3]]
        return {"batches": len(self.batches),
                "records_per_batch": round(sum(b[0] for b in self.batches) / len(self.batches), 1)
                if self.batches else 0,
                "commit_ms": percentiles(commit), "cycle_ms": percentiles(cycle)}


def percentiles(seconds: list[float]) -> dict[str, float | None]:
    """p50/p99/max of durations, in milliseconds (nearest rank)."""
    if not seconds:
        return {"p50": None, "p99": None, "max": None, "n": 0}
    ordered = sorted(seconds)

    def rank(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, max(0, int(round(q * len(ordered))) - 1))] * 1000, 3)

    return {"p50": rank(0.50), "p99": rank(0.99), "max": round(ordered[-1] * 1000, 3), "n": len(ordered)}


def _instrument_services(clocks: dict[str, BatchClock], writer_app: Any, media_app: Any) -> None:
    """Time the services' database commits by wrapping the module-level ``write_batch`` /
    ``upsert_media`` their handlers call (the product code is not changed; skipped, leaving the
    commit latency unknown, if a service no longer has that name)."""

    def wrap_commit(module: Any, name: str, clock: BatchClock) -> None:
        original = getattr(module, name, None)
        if original is None:
            return

        async def committed(*args, **kwargs):
            result = await original(*args, **kwargs)
            clock.committed()
            return result

        setattr(module, name, committed)

    if writer_app is not None:
        wrap_commit(writer_app, "write_batch", clocks["writer"])
    if media_app is not None:
        wrap_commit(media_app, "upsert_media", clocks["media"])


def _timing_middleware(clock: BatchClock) -> type:
    """A FastStream middleware marking when each batch reaches the handler and when it is done
    (after the handler, which commits the offsets). Added to the service's broker."""
    from faststream import BaseMiddleware

    class BatchTiming(BaseMiddleware):
        async def on_receive(self) -> None:
            if isinstance(self.msg, tuple):  # a batch of aiokafka records (not a publish)
                clock.enter(len(self.msg))

        async def after_processed(self, exc_type=None, exc_val=None, exc_tb=None) -> bool:
            if isinstance(self.msg, tuple):
                clock.leave()
            return False

    return BatchTiming


def _make_timed_broker(settings: Settings, client_id: str, clocks: dict[str, BatchClock]) -> Any:
    """``make_broker`` plus the batch-timing middleware of the service named by ``client_id``."""
    broker = make_broker(settings, client_id=client_id)
    clock = clocks.get(client_id.removeprefix("tgpipe-"))
    if clock is not None:
        broker.add_middleware(_timing_middleware(clock))
    return broker


async def _until_assigned(brokers: list[Any], timeout: float = 120.0) -> float:
    """Wait until every subscriber of ``brokers`` has partitions assigned; return that moment."""
    deadline = time.monotonic() + timeout
    while True:
        consumers = [sub.consumer for broker in brokers for sub in broker.subscribers]
        if consumers and all(c is not None and c.assignment() for c in consumers):
            return time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError("the consumers got no partitions assigned")
        await asyncio.sleep(0.005)


def _payloads_from(events: Path):
    for _key, value in read_events(events):
        yield MessageUpserted.model_validate_json(value).payload


def _count_bytes() -> list[int]:
    """Wrap the collector's ``encode_event`` to add up the bytes it publishes."""
    total = [0]
    original = collector_publish.encode_event

    def encode_event(event):
        value = original(event)
        total[0] += len(value)
        return value

    collector_publish.encode_event = encode_event
    return total


# --------------------------------------------------------------------------------- services


async def run_service(cfg: dict[str, Any]) -> None:
    """Role ``service``: the writer and/or the media service, assembled as deployed (module doc)."""
    settings = Settings(**cfg["settings"])
    n, layout = cfg["messages"], cfg["layout"]
    writer, media = cfg.get("writer", True), cfg.get("media", False)
    writer_app = importlib.import_module("services.writer.app") if writer else None
    media_app = importlib.import_module("services.media.app") if media else None
    rss_start, cpu_start = rss_mb(), cpu_s()
    clocks = {"writer": BatchClock(), "media": BatchClock()}
    _instrument_services(clocks, writer_app, media_app)
    progress = CountingTracker(layout)
    pool = PoolRef(settings.database_url)
    await pool.open()
    brokers: list[Any] = []
    if writer_app is not None:
        brokers.append(_make_timed_broker(settings, "tgpipe-writer", clocks))
        writer_app.register_writer(brokers[-1], settings, pool.get, on_committed=progress.on_committed)
    if media_app is not None:
        brokers.append(_make_timed_broker(settings, "tgpipe-media", clocks))
        media_app.register_media(brokers[-1], settings, pool.get, on_processed=progress.on_processed)
    stall = cfg.get("stall_timeout", 120.0)
    timeline: dict[str, float] = {}
    rss_series: list[tuple[float, float, int]] = []  # (seconds since ready, RSS MB, messages committed)
    sampler = None
    try:
        for broker in brokers:
            await broker.start()
        timeline["ready"] = await _until_assigned(brokers)
        emit("ready", t=timeline["ready"])
        sampler = asyncio.create_task(_sample_rss(rss_series, timeline["ready"], progress))
        if writer:
            await progress.wait_until(lambda: len(progress.committed) >= n, stall)
            timeline["committed"] = time.monotonic()
        if media:
            await progress.wait_until(lambda: len(progress.processed) >= n, stall)
            timeline["processed"] = time.monotonic()
    finally:
        if sampler is not None:
            sampler.cancel()
        for broker in reversed(brokers):
            await broker.stop()
        await pool.close()
    timeline["stopped"] = time.monotonic()
    _emit_service_result(cfg, timeline, progress, clocks, writer, media, 0, rss_start, cpu_start,
                         rss_series=_thin(rss_series, 40))


async def _sample_rss(series: list[tuple[float, float, int]], since: float, progress: ProgressTracker) -> None:
    """Every second: RSS and messages done, to tell a plateau (bounded buffers) from growth."""
    while True:
        series.append((round(time.monotonic() - since, 1), round(rss_mb(), 1),
                       max(len(progress.committed), len(progress.processed))))
        await asyncio.sleep(1.0)


def _thin(points: list[Any], at_most: int) -> list[Any]:
    """Every k-th point (and the last) so that at most about ``at_most`` remain."""
    step = max(1, len(points) // at_most)
    return points[::step] + (points[-1:] if points and (len(points) - 1) % step else [])


def _emit_service_result(cfg: dict[str, Any], timeline: dict[str, float], progress: Any,
                         clocks: dict[str, BatchClock], writer: bool, media: bool, published_bytes: int,
                         rss_start: float, cpu_start: float, **extra: Any) -> None:
    emit("result", role=cfg["role"], timeline=timeline, messages=cfg["messages"], **extra,
         published=len(progress.published), committed=len(progress.committed),
         processed=len(progress.processed),
         unexpected=progress.unexpected, repeated=progress.repeated,
         published_bytes=published_bytes,
         writer=clocks["writer"].summary() if writer else None,
         media=clocks["media"].summary() if media else None,
         **_process_stats(rss_start, cpu_start))


async def run_archive(cfg: dict[str, Any]) -> None:
    """Role ``archive``: collector, writer and media in one process, as ``tgpipe archive`` runs them."""
    import services.media.app as media_app
    import services.writer.app as writer_app
    import tgpipe.runtime.inprocess as inprocess_mod

    settings = Settings(**cfg["settings"])
    n, layout = cfg["messages"], cfg["layout"]
    rss_start, cpu_start = rss_mb(), cpu_s()
    clocks = {"writer": BatchClock(), "media": BatchClock()}
    _instrument_services(clocks, writer_app, media_app)
    brokers: list[Any] = []

    def recording_make_broker(settings: Settings, *, client_id: str) -> Any:
        brokers.append(_make_timed_broker(settings, client_id, clocks))
        return brokers[-1]

    inprocess_mod.make_broker = recording_make_broker
    tracker = CountingTracker(layout)
    published_bytes = _count_bytes()
    stall = cfg.get("stall_timeout", 120.0)
    timeline: dict[str, float] = {}
    async with inprocess_mod.running_services(settings, tracker) as collector:
        timeline["ready"] = await _until_assigned(brokers[:-1])
        emit("ready", t=timeline["ready"])
        timeline["started"] = time.monotonic()
        await publish_payloads(collector, settings, _payloads_from(Path(cfg["events"])), source="bench",
                               on_acked=tracker.on_published)
        timeline["published"] = time.monotonic()
        await tracker.wait_until(lambda: len(tracker.committed) >= n, stall)
        timeline["committed"] = time.monotonic()
        await tracker.wait_until(lambda: len(tracker.processed) >= n, stall)
        timeline["processed"] = time.monotonic()
    timeline["stopped"] = time.monotonic()
    _emit_service_result(cfg, timeline, tracker, clocks, True, True, published_bytes[0], rss_start, cpu_start)


# --------------------------------------------------------------------------------- collector


async def run_collector(cfg: dict[str, Any]) -> None:
    """Role ``collector``: publish N ``message.upserted`` events with the collector's own code."""
    settings = Settings(**cfg["settings"])
    n = cfg["messages"]
    rss_start = rss_mb()
    load_s = 0.0
    if cfg["source"] == "export":
        started = time.perf_counter()
        sources = load_sources(Path(cfg["data_dir"]))
        load_s = time.perf_counter() - started
        payloads: Iterable[Any] = replicate(sources, n)
        export_messages = sum(len(s.payloads) for s in sources)
    else:
        payloads = _payloads_from(Path(cfg["events"]))
        export_messages = None
    published_bytes = _count_bytes()
    acked = [0]

    def on_acked(events: list[Any]) -> None:
        acked[0] += len(events)

    broker = make_broker(settings, client_id="tgpipe-collector")
    await broker.start()
    try:
        cpu_start = cpu_s()
        emit("started", t=time.monotonic())
        started = time.monotonic()
        published = await publish_payloads(broker, settings, payloads, source="bench", on_acked=on_acked)
        finished = time.monotonic()
    finally:
        await broker.stop()
    emit("result", role="collector", source=cfg["source"],
         timeline={"started": started, "published": finished},
         messages=n, published=published, acked=acked[0], published_bytes=published_bytes[0],
         export_load_s=round(load_s, 3), export_messages=export_messages,
         **_process_stats(rss_start, cpu_start))


# --------------------------------------------------------------------------------- raw paths


async def _raw_consumer(settings: Settings, topic: str) -> AIOKafkaConsumer:
    """A consumer without a group, assigned every partition of ``topic`` from the beginning."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, client_id="bench-raw",
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                max_partition_fetch_bytes=16 * 1024 * 1024)
    await consumer.start()
    await consumer.topics()  # loads the metadata
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        await consumer.stop()
        raise RuntimeError(f"topic {topic} has no partitions")
    consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
    await consumer.seek_to_beginning()
    return consumer


async def _consume(settings: Settings, n: int, batch: int, stall: float,
                   handle: Callable[[list[Any]], Any]) -> dict[str, float]:
    """Feed ``handle`` with batches of records until ``n`` records were handled; return the timeline."""
    consumer = await _raw_consumer(settings, settings.topic_messages)
    timeline = {"ready": time.monotonic()}
    emit("ready", t=timeline["ready"])
    consumed, last_progress = 0, time.monotonic()
    try:
        while consumed < n:
            data = await consumer.getmany(timeout_ms=settings.batch_timeout_ms, max_records=batch)
            records = [record for partition in data.values() for record in partition]
            if not records:
                if time.monotonic() - last_progress > stall:
                    raise TimeoutError(f"no records for {stall:.0f}s after {consumed} of {n}")
                continue
            await handle(records)
            consumed += len(records)
            last_progress = time.monotonic()
        timeline["committed"] = time.monotonic()
    finally:
        await consumer.stop()
    return timeline


def _json(value: object) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _version(row: tuple) -> float:
    return row[4].timestamp() if row[4] else float("-inf")


class Statements:
    """The baseline's and the raw ceiling's SQL for the schema of the database at hand.

    The rows are the ones tgpipe's writer writes for a new message (services/writer/persist.py):
    ``channels``, ``senders``, ``messages`` and, from migration 0002 on, ``messages.observed_at``
    and one ``message_versions`` row per message (its sha256 computed in SQL exactly as the
    writer does), and from migration 0009 on both rows' search columns (``search_text``, and
    ``search_vector`` from the terms, both of :func:`tgpipe.db.search.document`: the archive's rule,
    not the writer's code); from migration 0013 on (``current_once``) the version row of a new
    message leaves its text, entities and search columns NULL (they are the message row's). Written out here rather than imported, so the ceiling does not move when the
    writer's code changes; the writer's extra statement for reactions-only updates (a no-op for
    new messages) is not repeated.
    """

    _COLUMNS = ("channel_id", "message_id", "kind", "date", "edit_date", "sender_type", "sender_id", "text",
                "entities", "reply_to_message_id", "reply_to_peer", "forwarded_from", "post_author", "action",
                "reactions", "grouped_id", "media_kind", "raw", "source_event_id")
    _TYPES = ("bigint", "bigint", "text", "timestamptz", "timestamptz", "text", "bigint", "text", "text",
              "bigint", "text", "text", "text", "text", "text", "bigint", "text", "text", "uuid")
    _JSON = {"entities", "reactions", "raw"}
    _VERSION_SHA = ("encode(sha256(convert_to({t}.text || chr(31) || {t}.entities::jsonb::text, 'UTF8')), "
                    "'hex')")

    CHANNELS = """
INSERT INTO channels (channel_id, type, title)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[])
ON CONFLICT (channel_id) DO UPDATE SET type = EXCLUDED.type, title = EXCLUDED.title
WHERE (channels.type, channels.title) IS DISTINCT FROM (EXCLUDED.type, EXCLUDED.title)
"""
    SENDERS = """
INSERT INTO senders (peer_type, peer_id, name)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[])
ON CONFLICT (peer_type, peer_id) DO UPDATE SET name = EXCLUDED.name
WHERE EXCLUDED.name IS NOT NULL AND senders.name IS DISTINCT FROM EXCLUDED.name
"""
    CHANNEL = "INSERT INTO channels (channel_id, type, title) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
    SENDER = "INSERT INTO senders (peer_type, peer_id, name) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
    PHOTO = """
INSERT INTO media (channel_id, message_id, kind, status, sha256, size_bytes, width, height, source_path)
VALUES ($1, $2, 'photo', $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING
"""

    def __init__(self, observed_at: bool, versions: bool, search: bool = False, current_once: bool = False) -> None:
        self.observed_at, self.versions, self.search = observed_at, versions, search
        # a row's columns (message_row); with search, its last one holds the terms, stored as a vector
        self.columns = (self._COLUMNS + (("observed_at",) if observed_at else ())
                        + (("search_text", "search_terms") if search else ()))
        types = self._TYPES + (("timestamptz",) if observed_at else ()) + (("text", "text") if search else ())
        stored = self.columns[:-1] + ("search_vector",) if search else self.columns
        names = ", ".join(stored)

        def value(ref: str, c: str) -> str:
            """The stored value of column ``c`` given as ``ref`` (``u.raw``, ``$18``)."""
            if c == "search_terms":
                return f"array_to_tsvector(string_to_array({ref}, ' '))"
            return f"{ref}::jsonb" if c in self._JSON else ref

        update = ", ".join(f"{c} = EXCLUDED.{c}" for c in stored[2:])
        conflict = (f"ON CONFLICT (channel_id, message_id) DO UPDATE SET {update} "
                    f"WHERE EXCLUDED.edit_date IS NOT NULL "
                    f"AND (messages.edit_date IS NULL OR EXCLUDED.edit_date > messages.edit_date)")
        version_columns = ("INSERT INTO message_versions (channel_id, message_id, text_sha256, text, "
                           "entities, edit_date, valid_from, source_event_id"
                           + (", search_text, search_vector)" if search else ")"))

        def version_from(t: str, vector: str | None = None) -> str:
            searched = f", {t}.search_text, {vector or value(f'{t}.search_terms', 'search_terms')}" if search else ""
            texts = f"{t}.text, {t}.entities::jsonb"
            if current_once:
                searched, texts = (", NULL, NULL" if search else ""), "NULL, NULL"
            return (f"{version_columns} SELECT {t}.channel_id, {t}.message_id, "
                    f"{self._VERSION_SHA.format(t=t)}, {texts}, {t}.edit_date, "
                    f"coalesce({t}.edit_date, {t}.date), {t}.source_event_id{searched} "
                    f"FROM {{source}} ON CONFLICT DO NOTHING")

        # ceiling, unnest: messages, then their versions
        self.messages = (f"INSERT INTO messages ({names}) SELECT "
                         + ", ".join(value(f"u.{c}", c) for c in self.columns)
                         + " FROM unnest(" + ", ".join(f"${i}::{t}[]" for i, t in enumerate(types, start=1))
                         + f") AS u({', '.join(self.columns)}) {conflict}")
        self.versions_sql = version_from("u").format(
            source="unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::timestamptz[], "
                   "$6::timestamptz[], $7::uuid[]" + (", $8::text[], $9::text[]" if search else "") + ") "
                   "AS u(channel_id, message_id, text, entities, edit_date, date, source_event_id"
                   + (", search_text, search_terms)" if search else ")"))
        # ceiling, COPY: into a temporary stage shaped like messages (and the terms), then from there
        self.stage_messages = (f"INSERT INTO messages ({names}) SELECT "
                               f"{', '.join(value(f'stage.{c}', c) for c in self.columns)} "
                               f"FROM stage {conflict}")
        self.stage_versions = version_from("stage").format(source="stage")
        self.create_stage = ("CREATE TEMPORARY TABLE stage (LIKE messages INCLUDING DEFAULTS"
                             + (", search_terms text" if search else "") + ") ON COMMIT DELETE ROWS")
        # baseline: one statement (one round trip) per message, its version row included
        placeholders = ", ".join(value(f"${i}", c) for i, c in enumerate(self.columns, start=1))
        single = f"INSERT INTO messages ({names}) VALUES ({placeholders}) {conflict}"
        returning = ("RETURNING channel_id, message_id, text, entities, edit_date, date, source_event_id"
                     + (", search_text, search_vector" if search else ""))
        self.message = (f"WITH m AS ({single} {returning}) " + version_from("m", "m.search_vector").format(source="m")
                        if versions else single)

    @classmethod
    async def for_database(cls, conn: asyncpg.Connection) -> Statements:
        def has(column: str) -> str:
            return ("SELECT EXISTS (SELECT 1 FROM information_schema.columns "
                    f"WHERE table_name = 'messages' AND column_name = '{column}')")

        versions = await conn.fetchval("SELECT to_regclass('message_versions') IS NOT NULL")
        current_once = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE "
                                           "table_name = 'message_versions' AND column_name = 'text' "
                                           "AND is_nullable = 'YES')")
        return cls(await conn.fetchval(has("observed_at")), versions, await conn.fetchval(has("search_vector")),
                   current_once)

    def message_row(self, event: dict[str, Any]) -> tuple:
        """The ``messages`` columns of a decoded ``message.upserted`` event (as the writer writes them)."""
        m = event["payload"]["message"]
        sender = m.get("sender")
        row = (m["channel_id"], m["message_id"], m["kind"], _when(m["date"]), _when(m.get("edit_date")),
               sender["peer_type"] if sender else None, sender["peer_id"] if sender else None,
               m.get("text", ""),
               _json(m.get("entities", [])), m.get("reply_to_message_id"), m.get("reply_to_peer"),
               m.get("forwarded_from"), m.get("post_author"), m.get("action"), _json(m.get("reactions")),
               m.get("grouped_id"), m.get("media_kind"), _json(m["raw"]), event["event_id"])
        row += (_when(event["time"]),) if self.observed_at else ()
        if self.search:
            found = search.document(row[7])
            row += (found.search_text, found.terms)
        return row

    def version_columns(self, rows: list[tuple]) -> list[list[Any]]:
        """``unnest`` arguments of :attr:`versions_sql` from message rows."""
        searched = [[r[-2] for r in rows], [r[-1] for r in rows]] if self.search else []
        return [[r[0] for r in rows], [r[1] for r in rows], [r[7] for r in rows], [r[8] for r in rows],
                [r[4] for r in rows], [r[3] for r in rows], [r[18] for r in rows], *searched]


async def run_baseline(cfg: dict[str, Any]) -> None:
    """Role ``baseline``: one autocommitted ``INSERT`` per message, then one per photo."""
    settings = Settings(**cfg["settings"])
    n = cfg["messages"]
    rss_start, cpu_start = rss_mb(), cpu_s()
    conn = await asyncpg.connect(settings.database_url)
    sql = await Statements.for_database(conn)
    channels: set[int] = set()
    senders: set[tuple[str, int]] = set()
    hashes: dict[str, tuple[str | None, int | None]] = {}
    latencies: list[float] = []
    photos = [0]

    def photo_file(ref: dict[str, Any]) -> tuple[str | None, int | None]:
        """(sha256, size) of a photo file, read and hashed once per distinct file."""
        path = str(Path(ref.get("export_root") or "") / (ref.get("path") or ""))
        if path not in hashes:
            try:
                data = Path(path).read_bytes()
                hashes[path] = (hashlib.sha256(data).hexdigest(), len(data))
            except OSError:
                hashes[path] = (None, None)
        return hashes[path]

    async def handle(records: list[Any]) -> None:
        for record in records:
            event = json.loads(record.value)
            payload = event["payload"]
            message = payload["message"]
            started = time.perf_counter()
            channel = payload["channel"]
            if channel["channel_id"] not in channels:
                await conn.execute(sql.CHANNEL, channel["channel_id"], channel["type"], channel.get("title"))
                channels.add(channel["channel_id"])
            if (sender := message.get("sender")) and (sender["peer_type"], sender["peer_id"]) not in senders:
                await conn.execute(sql.SENDER, sender["peer_type"], sender["peer_id"], sender.get("name"))
                senders.add((sender["peer_type"], sender["peer_id"]))
            await conn.execute(sql.message, *sql.message_row(event))
            for ref in payload.get("media", []):
                if ref["kind"] != "photo":
                    continue
                sha, size = (None, ref.get("file_size")) if ref.get("unavailable") else photo_file(ref)
                status = ref.get("unavailable") or ("stored" if sha else "missing")
                await conn.execute(sql.PHOTO, message["channel_id"], message["message_id"], status, sha,
                                   size, ref.get("width"), ref.get("height"), ref.get("path"))
                photos[0] += 1
            latencies.append(time.perf_counter() - started)

    try:
        timeline = await _consume(settings, n, settings.writer_batch_max_records,
                                  cfg.get("stall_timeout", 120.0), handle)
    finally:
        await conn.close()
    emit("result", role="baseline", timeline=timeline, messages=n, committed=len(latencies),
         photo_rows=photos[0],
         versions=sql.versions, observed_at=sql.observed_at,
         writer={"batches": len(latencies), "records_per_batch": 1, "commit_ms": percentiles(latencies)},
         **_process_stats(rss_start, cpu_start))


async def run_ceiling(cfg: dict[str, Any]) -> None:
    """Role ``ceiling``: ``getmany`` + ``json.loads`` + one multi-row upsert transaction per batch."""
    settings = Settings(**cfg["settings"])
    n, variant = cfg["messages"], cfg["variant"]
    rss_start, cpu_start = rss_mb(), cpu_s()
    conn = await asyncpg.connect(settings.database_url)
    sql = await Statements.for_database(conn)
    if variant == "copy":
        await conn.execute(sql.create_stage)
    clock = BatchClock()
    committed = [0]

    async def handle(records: list[Any]) -> None:
        clock.enter(len(records))
        newest: dict[tuple[int, int], tuple] = {}
        channels: dict[int, dict[str, Any]] = {}
        senders: dict[tuple[str, int], str | None] = {}
        for record in records:
            event = json.loads(record.value)
            payload = event["payload"]
            row = sql.message_row(event)
            key = (row[0], row[1])
            current = newest.get(key)
            if current is None or _version(row) >= _version(current):  # as persist._newest_per_message
                newest[key] = row
            channels[payload["channel"]["channel_id"]] = payload["channel"]
            if sender := payload["message"].get("sender"):
                senders[(sender["peer_type"], sender["peer_id"])] = sender.get("name")
        rows = list(newest.values())
        async with conn.transaction():
            await conn.execute(sql.CHANNELS, list(channels), [c["type"] for c in channels.values()],
                               [c.get("title") for c in channels.values()])
            if senders:
                await conn.execute(sql.SENDERS, [k[0] for k in senders], [k[1] for k in senders],
                                   list(senders.values()))
            if variant == "copy":
                await conn.copy_records_to_table("stage", records=rows, columns=sql.columns)
                await conn.execute(sql.stage_messages)
                if sql.versions:
                    await conn.execute(sql.stage_versions)
            else:
                await conn.execute(sql.messages, *[list(c) for c in zip(*rows, strict=True)])
                if sql.versions:
                    await conn.execute(sql.versions_sql, *sql.version_columns(rows))
        clock.committed()
        clock.leave()
        committed[0] += len(rows)

    try:
        timeline = await _consume(settings, n, settings.writer_batch_max_records,
                                  cfg.get("stall_timeout", 120.0), handle)
    finally:
        await conn.close()
    emit("result", role="ceiling", variant=variant, timeline=timeline, messages=n, committed=committed[0],
         versions=sql.versions, observed_at=sql.observed_at,
         writer=clock.summary(), **_process_stats(rss_start, cpu_start))


ROLES = {"service": run_service, "archive": run_archive, "collector": run_collector,
         "baseline": run_baseline, "ceiling": run_ceiling}


def worker_main(config_path: str) -> None:
    """Run the role of the worker config at ``config_path`` (JSON) to completion."""
    cfg = json.loads(Path(config_path).read_text())
    asyncio.run(ROLES[cfg["role"]](cfg))
    sys.stdout.flush()


if __name__ == "__main__":
    worker_main(sys.argv[1])
