"""Metrics, readiness and liveness of the deployed services, over HTTP, against real processes.

Each test starts ``tgpipe writer`` / ``tgpipe media`` as a subprocess configured only by
``TGPIPE_*`` variables (real broker, real PostgreSQL), sends events, then scrapes
``/metrics`` and asserts by how much the counters moved, and reads ``/health/ready`` and
``/health/live``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import asyncpg
from prometheus_client.parser import text_string_to_metric_families

from schemas import MediaRef, encode_event
from tests.support.factories import message_event
from tests.support.broker import collector
from tests.support.processes import service_process
from tests.support.proxy import TcpProxy
from tests.support.waiting import eventually, persisted
from tgpipe.settings import Settings

READY_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def with_http(settings: Settings, **more: object) -> Settings:
    return settings.model_copy(update={"metrics_port": free_port(), **more})


async def get(port: int, path: str) -> tuple[int, str]:
    """``(status, body)`` of ``GET http://127.0.0.1:PORT/PATH``."""
    def fetch() -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError as exc:  # not listening yet
            return 0, str(exc)
    return await asyncio.to_thread(fetch)


async def scrape(port: int) -> dict[tuple[str, frozenset], float]:
    """Every sample of ``/metrics``: ``{(name, frozenset(labels.items())): value}``."""
    status, text = await get(port, "/metrics")
    assert status == 200, text
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def total(samples: dict, name: str, **labels: str) -> float:
    """Sum of the samples named ``name`` whose labels include ``labels``."""
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= ls)


async def wait_status(port: int, path: str, status: int, timeout: float = READY_TIMEOUT_S) -> dict:
    """Poll ``path`` until it answers ``status``; return its JSON body."""
    seen: list = []

    async def answered() -> bool:
        seen[:] = await get(port, path)
        return seen[0] == status
    await eventually(answered, timeout, f"{path} answering {status} (last: {seen})", interval=0.2)
    return json.loads(seen[1])


async def test_writer_metrics_count_consumed_published_and_dead_lettered(settings, db, tmp_path: Path):
    settings = with_http(settings, log_format="json", log_level="DEBUG")
    port = settings.metrics_port
    events = [message_event(100 + i % 2, i, text=f"m{i}") for i in range(1, 11)]  # chats 100 and 101
    async with service_process(settings, tmp_path / "writer.log") as writer:
        ready = await wait_status(port, "/health/ready", 200)
        assert ready == {"ok": True, "state": "ready", "detail": "", "kafka": True, "database": True}
        live = await wait_status(port, "/health/live", 200)
        assert live["stuck_batches_s"] == {}
        before = await scrape(port)
        published_at = time.monotonic()
        async with collector(settings) as broker:
            for event in events:
                await broker.publish(encode_event(event), topic=settings.topic_messages, key=event.key)
            await broker.publish(b"not json", topic=settings.topic_messages, key=b"100")
        await eventually(persisted(db, 10), 60, "10 messages written")
        await eventually(lambda: _dead_lettered(port), 30, "the dead letter counted")
        # Offsets are committed after the transaction and the dead letter: until then a batch is in
        # hand (tgpipe_uncommitted_seconds), so the scrape waits for every batch to be committed.
        await eventually(lambda: _all_committed(port), 30, "every batch's offsets committed")
        after = await scrape(port)
        since_published = time.monotonic() - published_at

    def moved(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    topic = settings.topic_messages
    # FastStream's middleware: 11 records received on the messages topic, 10 committed events
    # published, 1 dead letter published.
    assert moved("faststream_received_messages_total", handler=topic) == 11
    assert moved("faststream_published_messages_total", destination=settings.topic_committed) == 10
    assert moved("faststream_published_messages_total", destination=settings.topic_dead_letter) == 1
    # tgpipe's own.
    assert moved("tgpipe_dead_letters_total", topic=topic, error_class="UndecodableEventError") == 1
    assert moved("tgpipe_batch_records_sum", topic=topic) == 11
    assert moved("tgpipe_db_transaction_seconds_count", service="writer") >= 1
    for channel in ("100", "101"):
        # Each chat's events went through after they were published and before the scrape.
        key = ("tgpipe_seconds_since_last_processed", frozenset({"topic": topic, "channel": channel}.items()))
        assert 0 <= after[key] <= since_published, (after[key], since_published)
    lag = {dict(ls)["partition"]: v for (n, ls), v in after.items()
           if n == "tgpipe_consumer_lag_records" and dict(ls)["topic"] == topic}
    assert set(lag) <= {"0", "1", "2"} and lag, after  # the partitions assigned, with their lag
    assert set(lag.values()) == {0}  # every record consumed (also on Tansu: its high watermark is never higher)
    # Every batch committed: nothing in hand, nothing stalled.
    assert total(after, "tgpipe_stalled_partitions") == 0

    # JSON logs: every line is an object; each processed event is logged with its identity.
    lines = [json.loads(line) for line in writer.log().splitlines() if line.startswith("{")]
    assert len(lines) == len([line for line in writer.log().splitlines() if line.strip()])
    processed = [line for line in lines if line["message"] == "processed message.upserted"]
    assert {(p["channel_id"], p["telegram_message_id"]) for p in processed} == {
        (100 + i % 2, i) for i in range(1, 11)}
    assert {p["event_id"] for p in processed} == {str(e.event_id) for e in events}
    dead = [line for line in lines if line["message"].startswith("dead-lettered")]
    assert dead and dead[0]["error_class"] == "UndecodableEventError" and dead[0]["topic"] == topic


async def _dead_lettered(port: int) -> bool:
    return total(await scrape(port), "tgpipe_dead_letters_total") >= 1


async def _all_committed(port: int) -> bool:
    return not [key for key in await scrape(port) if key[0] == "tgpipe_uncommitted_seconds"]


async def test_media_metrics_count_bytes_and_statuses(settings, db, tmp_path: Path):
    export = tmp_path / "export"
    (export / "photos").mkdir(parents=True)
    (export / "photos" / "a.jpg").write_bytes(b"\xff\xd8\xff" + b"x" * 997)  # 1000 bytes, a JPEG signature
    photo = MediaRef(kind="photo", export_root=str(export), path="photos/a.jpg")
    gone = MediaRef(kind="photo", export_root=str(export), path="photos/gone.jpg")
    events = [message_event(100, 1, media=[photo]), message_event(100, 2, media=[gone]),
              message_event(100, 3, media=[MediaRef(kind="video_file", export_root=str(export), path="v.mp4")])]
    writer_settings, media_settings = with_http(settings), with_http(settings)
    async with service_process(writer_settings, tmp_path / "writer.log"), \
            service_process(media_settings, tmp_path / "media.log", command="media"):
        port = media_settings.metrics_port
        await wait_status(port, "/health/ready", 200)
        before = await scrape(port)
        published_at = time.monotonic()
        async with collector(settings) as broker:
            for event in events:
                await broker.publish(encode_event(event), topic=settings.topic_messages, key=event.key)

        async def media_rows() -> bool:
            return await db.fetchval("SELECT count(*) FROM media") == 3
        await eventually(media_rows, 60, "3 media rows")
        after = await scrape(port)

    def moved(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert moved("tgpipe_media_items_total", status="stored") == 1
    assert moved("tgpipe_media_items_total", status="missing") == 1
    assert moved("tgpipe_media_items_total", status="skipped") == 1
    assert moved("tgpipe_media_stored_bytes_total") == 1000
    assert moved("tgpipe_db_transaction_seconds_count", service="media") >= 1
    assert moved("faststream_received_messages_total", handler=settings.topic_committed) == 3
    assert ("tgpipe_seconds_since_last_processed",
            frozenset({"topic": settings.topic_committed, "channel": "100"}.items())) in after


async def test_readiness_fails_while_the_database_is_unreachable(settings, db, tmp_path: Path):
    proxy = await TcpProxy.for_database(settings.database_url).open()
    settings = with_http(settings, database_url=proxy.url_for(settings.database_url))
    port = settings.metrics_port
    try:
        async with service_process(settings, tmp_path / "writer.log"):
            await wait_status(port, "/health/ready", 200)
            await proxy.close()
            down = await wait_status(port, "/health/ready", 503, timeout=20)
            assert down["state"] == "ready" and down["kafka"] is True and down["database"] is not True, down
            assert (await get(port, "/health/live"))[0] == 200  # alive: it retries, a restart would not help
            await proxy.open()
            up = await wait_status(port, "/health/ready", 200, timeout=30)
            assert up["database"] is True
    finally:
        await proxy.close()


async def test_liveness_fails_while_a_batch_is_stuck(settings, db, tmp_path: Path):
    settings = with_http(settings, liveness_batch_timeout_s=1.0)
    port = settings.metrics_port
    async with service_process(settings, tmp_path / "writer.log"), collector(settings) as broker:
        await wait_status(port, "/health/ready", 200)
        first = message_event(100, 1, text="one")
        await broker.publish(encode_event(first), topic=settings.topic_messages, key=first.key)
        await eventually(persisted(db, 1), 60, "message 1 written")
        assert (await get(port, "/health/live"))[0] == 200

        # Lock the chat's row: the writer's next batch (chats first) waits for it.
        conn: asyncpg.Connection
        async with db.acquire() as conn:
            lock = conn.transaction()
            await lock.start()
            await conn.fetch("SELECT 1 FROM channels WHERE channel_id = 100 FOR UPDATE")
            second = message_event(100, 2, text="two")
            await broker.publish(encode_event(second), topic=settings.topic_messages, key=second.key)
            stuck = await wait_status(port, "/health/live", 503, timeout=30)
            assert stuck["stuck_batches_s"][settings.topic_messages] > 1.0, stuck
            assert (await get(port, "/health/ready"))[0] == 200  # connected, just not progressing
            await lock.rollback()
        await eventually(persisted(db, 2), 30, "message 2 written after the lock was released")
        assert (await wait_status(port, "/health/live", 200, timeout=10))["stuck_batches_s"] == {}
