"""Plumbing of the faults group: services as real processes, faults at exact points, a TCP proxy.

* :class:`ServiceProcess` runs ``tgpipe writer`` / ``tgpipe media`` as deployed (configured by
  ``TGPIPE_*`` variables only), optionally with a :class:`Fault` injected by
  ``injector/sitecustomize.py`` (SIGKILL or a pause at the n-th call of a named coroutine).
* :class:`TcpProxy` forwards 127.0.0.1:PORT to a server (TCP or Unix socket) and can be closed
  (listener shut, live connections aborted) and reopened on the same port: "PostgreSQL is
  unreachable for a while" or "no broker yet" without touching the real server.
* :func:`committed_offsets` reads a consumer group's committed offsets without joining it.
* :func:`publish` publishes through the real collector code (``seq`` stamped) and tells the
  checker; :func:`run_until` runs the in-process services until given messages are through.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from faststream.kafka import KafkaBroker

from schemas import MessageUpsertedPayload
from tests.support.factories import message_event
from services.collector.publish import publish_payloads
from tests.faults.checker import Checker, Key
from tests.cli.test_cli import _env as settings_env
from tgpipe.runtime.inprocess import running_services
from tgpipe.runtime.progress import ProgressTracker
from tgpipe.kafka.broker import make_broker
from tgpipe.settings import Settings

INJECTOR = Path(__file__).parent / "injector"

#: Where to kill or pause the writer (targets of :class:`Fault`).
OFFSET_COMMIT = "aiokafka.consumer.consumer:AIOKafkaConsumer.commit"
PUBLISH_COMMITTED = "services.writer.app:publish_all"
WRITE_BATCH = "services.writer.persist:write_batch"
SQL_EXECUTE = "asyncpg.connection:Connection.execute"
UPSERT_MESSAGES = "INSERT INTO messages"


@dataclass(frozen=True)
class Fault:
    """A fault for ``injector/sitecustomize.py`` (see there): ``action`` at the ``nth`` matching call."""

    target: str
    nth: int = 1
    match: str | None = None
    action: str = "kill"
    when: str = "before"
    seconds: float = 1.0
    error: str | None = None  # action "raise": the built-in exception's name


class ServiceProcess:
    """``tgpipe COMMAND`` in a subprocess; output goes to ``log_path`` (see :meth:`log`)."""

    def __init__(self, settings: Settings, log_path: Path, command: str = "writer", fault: Fault | None = None,
                 extra_env: dict[str, str] | None = None):
        self.settings, self.log_path, self.command, self.fault = settings, log_path, command, fault
        self.extra_env = extra_env or {}
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> ServiceProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TGPIPE_")}
        env.update(settings_env(self.settings), PYTHONUNBUFFERED="1")
        env.update(self.extra_env)
        if self.fault:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(INJECTOR), env.get("PYTHONPATH")]))
            env["TGPIPE_TEST_FAULT"] = json.dumps(asdict(self.fault))
        tgpipe = shutil.which("tgpipe", path=str(Path(sys.executable).parent))
        assert tgpipe, "the tgpipe console script is not installed beside this interpreter"
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                tgpipe, self.command, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log)
        return self

    def log(self) -> str:
        """Everything the process printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def wait_for_log(self, text: str, timeout: float) -> None:
        """Return once ``text`` appears in the output; fail if the process exits or time runs out first."""
        async with asyncio.timeout(timeout):
            while text not in self.log():
                assert self.process and self.process.returncode is None, f"exited before {text!r}:\n{self.log()}"
                await asyncio.sleep(0.05)

    async def wait(self, timeout: float) -> int:
        """The exit code (``-9`` after SIGKILL), waiting at most ``timeout`` seconds."""
        assert self.process
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"tgpipe {self.command} still running after {timeout} s:\n{self.log()[-4000:]}") \
                from None

    def signal(self, signum: int) -> None:
        assert self.process
        self.process.send_signal(signum)

    async def stop(self) -> None:
        """SIGKILL the process if it still runs (teardown; never a broad kill)."""
        if self.process and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()


@contextlib.asynccontextmanager
async def service_process(settings: Settings, log_path: Path, command: str = "writer",
                          fault: Fault | None = None, extra_env: dict[str, str] | None = None
                          ) -> AsyncIterator[ServiceProcess]:
    """Start ``tgpipe COMMAND`` (``extra_env``: more ``TGPIPE_*`` variables); SIGKILL it on exit if it
    is still running."""
    service = ServiceProcess(settings, log_path, command, fault, extra_env)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


class TcpProxy:
    """Forward ``127.0.0.1:port`` to ``target``: ``("tcp", host, port)`` or ``("unix", path)``.

    :meth:`close` stops listening and aborts every forwarded connection (both peers see the
    connection reset); :meth:`open` listens again on the same port.
    """

    def __init__(self, target: tuple, port: int = 0) -> None:
        self.target, self.port = target, port
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task] = set()
        self._transports: set[asyncio.Transport] = set()

    @classmethod
    def for_database(cls, database_url: str) -> TcpProxy:
        """A proxy to the PostgreSQL server of ``database_url`` (TCP, or Unix socket via ``?host=``)."""
        parts = urlsplit(database_url)
        socket_dir = parse_qs(parts.query).get("host", [None])[0] or (None if parts.hostname else "/tmp")
        if socket_dir:
            return cls(("unix", f"{socket_dir}/.s.PGSQL.{parts.port or 5432}"))
        return cls(("tcp", parts.hostname, parts.port or 5432))

    def url_for(self, database_url: str) -> str:
        """``database_url`` pointed at this proxy."""
        parts = urlsplit(database_url)
        user = f"{parts.username}@" if parts.username else ""
        return f"postgresql://{user}127.0.0.1:{self.port}{parts.path}"

    async def open(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for transport in list(self._transports):
            transport.abort()
        for pipe in list(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self.target[0] == "unix":
                up_reader, up_writer = await asyncio.open_unix_connection(self.target[1])
            else:
                up_reader, up_writer = await asyncio.open_connection(self.target[1], self.target[2])
        except OSError:
            writer.transport.abort()
            return
        ends = (writer.transport, up_writer.transport)
        self._transports.update(ends)
        pipes = [asyncio.create_task(self._pipe(reader, up_writer)),
                 asyncio.create_task(self._pipe(up_reader, writer))]
        self._pipes.update(pipes)
        await asyncio.gather(*pipes, return_exceptions=True)
        self._pipes.difference_update(pipes)
        self._transports.difference_update(ends)
        for transport in ends:
            transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()


def produce_with_librdkafka(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    """Produce ``(key, value)`` records in order with librdkafka (murmur2 partitioner, as documented),
    waiting for every delivery report; fails on any delivery error."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random",
                         "enable.idempotence": False, "max.in.flight.requests.per.connection": 1})
    failures: list[object] = []
    for key, value in records:
        producer.produce(topic, key=key, value=value, headers={"content-type": b"application/json"},
                         on_delivery=lambda error, _msg: failures.append(error) if error else None)
    assert producer.flush(60) == 0, "librdkafka did not deliver every record within 60 s"
    assert not failures, failures


async def committed_offsets(settings: Settings, group: str, topic: str) -> dict[int, int | None]:
    """``{partition: committed offset}`` of ``group`` on ``topic``, read without joining the group."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, group_id=group,
                                enable_auto_commit=False)
    async with asyncio.timeout(30):
        await consumer.start()
        try:
            return {p: await consumer.committed(TopicPartition(topic, p)) for p in range(settings.topic_partitions)}
        finally:
            await consumer.stop()


async def committed_count(settings: Settings, group: str, topic: str) -> int:
    """How many records of ``topic`` ``group`` has committed (the tests' topics start at offset 0)."""
    return sum(offset or 0 for offset in (await committed_offsets(settings, group, topic)).values())


async def eventually(predicate: Callable[[], Awaitable[bool] | bool], timeout: float, what: str,
                     interval: float = 0.1) -> None:
    """Poll ``predicate`` (plain or async) until it holds; fail naming ``what`` after ``timeout`` seconds."""
    try:
        async with asyncio.timeout(timeout):
            while not await _value(predicate()):
                await asyncio.sleep(interval)
    except TimeoutError:
        raise AssertionError(f"not within {timeout} s: {what}") from None


async def _value(result: Awaitable[bool] | bool) -> bool:
    return await result if inspect.isawaitable(result) else result


@contextlib.asynccontextmanager
async def collector(settings: Settings) -> AsyncIterator[KafkaBroker]:
    """A started producer-side broker, as the collector uses."""
    broker = make_broker(settings, client_id="tgpipe-collector")
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()


async def publish(settings: Settings, checker: Checker, payloads: list[MessageUpsertedPayload], source: str,
                  broker: KafkaBroker | None = None) -> None:
    """Publish ``payloads`` through the collector (``seq`` stamped), remembered by ``checker``."""
    async with contextlib.AsyncExitStack() as stack:
        broker = broker or await stack.enter_async_context(collector(settings))
        await publish_payloads(broker, settings, payloads, source=source, on_acked=checker.on_published)


def keys_of(payloads: list[MessageUpsertedPayload]) -> set[Key]:
    return {(p.message.channel_id, p.message.message_id) for p in payloads}


_DONE = """
SELECT count(*) FROM messages g JOIN unnest($1::bigint[], $2::bigint[]) AS k (channel_id, message_id)
     USING (channel_id, message_id)
WHERE NOT $3 OR g.media_kind IS NULL
   OR EXISTS (SELECT 1 FROM media m WHERE m.channel_id = g.channel_id AND m.message_id = g.message_id)
"""


async def run_until(settings: Settings, db: asyncpg.Pool, keys: set[Key], *, media: bool = True,
                    timeout: float = 60) -> None:
    """Run the writer (and media service) in this process until every message of ``keys`` is in
    the database (and, with ``media``, has a media row when it has media); then stop them (a stop
    lets the batch in flight finish)."""
    columns = [k[0] for k in keys], [k[1] for k in keys]

    async def done() -> bool:
        async with db.acquire() as conn:
            return await conn.fetchval(_DONE, *columns, media) == len(keys)

    async with asyncio.timeout(timeout + 30), running_services(settings, ProgressTracker(), media=media):
        await eventually(done, timeout, f"{len(keys)} messages through the pipeline")


def text_payloads(count: int, channels: int = 3, start: int = 1) -> list[MessageUpsertedPayload]:
    """Messages ``start..start+count-1`` without media, spread over channels 100, 101…"""
    return [message_event(100 + i % channels, i, text=f"message {i}").payload for i in range(start, start + count)]


async def paced_publish(settings: Settings, checker: Checker, payloads: list[MessageUpsertedPayload],
                        broker: KafkaBroker, *, chunk: int = 10, interval: float = 0.1) -> None:
    """Publish ``payloads`` ``chunk`` at a time, one chunk per ``interval``: a live stream."""
    for i in range(0, len(payloads), chunk):
        await publish(settings, checker, payloads[i:i + chunk], source=f"stream-{i // chunk}", broker=broker)
        await asyncio.sleep(interval)


def persisted(db: asyncpg.Pool, count: int) -> Callable[[], Awaitable[bool]]:
    """A predicate for :func:`eventually`: ``messages`` holds ``count`` rows."""
    async def check() -> bool:
        async with db.acquire() as conn:
            return await conn.fetchval("SELECT count(*) FROM messages") == count
    return check
