"""The HTTP endpoint of a deployed service (``TGPIPE_METRICS_PORT``): metrics, readiness, liveness.

A minimal HTTP/1.1 server on asyncio, run inside the service's FastStream app (started before it
waits for Kafka and PostgreSQL, closed after the broker stopped), so the process keeps
FastStream's own signal handling and graceful shutdown; no ASGI server is needed.

* ``GET /metrics``: Prometheus text format: FastStream's ``KafkaPrometheusMiddleware`` metrics
  (``tgpipe_messages_*``… prefix ``faststream_``) and tgpipe's (:mod:`tgpipe.metrics`); consumer
  lag is computed at each scrape.
* ``GET /health/ready``: 200 when the service consumes (its readiness state is ``ready``: not
  ``stalled``, see :mod:`tgpipe.stall`), the broker answers (``broker.ping``) and PostgreSQL
  answers ``SELECT 1``, each within 2 s; else 503. The JSON body gives the state (and what is
  stalled, in ``detail``) and each check.
* ``GET /health/live``: 200 unless a batch has been in flight for longer than
  ``TGPIPE_LIVENESS_BATCH_TIMEOUT_S`` (a stuck consumer) or the service stopped; else 503.
  Waiting for Kafka or PostgreSQL at start-up is live (a restart would not help).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from tgpipe import metrics
from tgpipe.readiness import Readiness

log = logging.getLogger(__name__)
CHECK_TIMEOUT_S = 2.0


class HealthServer:
    """Serves the three endpoints for one service (see the module docstring)."""

    def __init__(self, port: int, *, broker: Any, readiness: Readiness, database: Callable[[], Awaitable[Any]],
                 registries: tuple[CollectorRegistry, ...], stuck_after_s: float, host: str = "0.0.0.0") -> None:
        self.host, self.port = host, port
        self.broker, self.readiness, self.database = broker, readiness, database
        self.registries = (metrics.REGISTRY, *registries)
        self.stuck_after_s = stuck_after_s
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, reuse_address=True)
        log.info("metrics and health on http://%s:%d (/metrics, /health/ready, /health/live)",
                 self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    # ---- the endpoints

    async def metrics_text(self) -> bytes:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(metrics.refresh_lag(self.broker), CHECK_TIMEOUT_S)
        return b"".join(generate_latest(registry) for registry in self.registries)

    async def ready(self) -> tuple[bool, dict[str, object]]:
        state = {"state": self.readiness.state, "detail": self.readiness.detail}
        if not self.readiness.ready:
            return False, state
        kafka, database = await asyncio.gather(self._kafka_ok(), self._database_ok())
        return kafka is True and database is True, {**state, "kafka": kafka, "database": database}

    def live(self) -> tuple[bool, dict[str, object]]:
        stuck = metrics.PROGRESS.stuck(self.stuck_after_s)
        alive = not stuck and self.readiness.state != "stopped"
        return alive, {"state": self.readiness.state, "stuck_batches_s": stuck,
                       "batch_in_flight_s": metrics.PROGRESS.oldest_batch_s(),
                       "stuck_after_s": self.stuck_after_s}

    async def _kafka_ok(self) -> bool | str:
        try:
            return True if await self.broker.ping(CHECK_TIMEOUT_S) else "no answer within 2 s"
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            return f"{type(exc).__name__}: {exc}"

    async def _database_ok(self) -> bool | str:
        try:
            await asyncio.wait_for(self.database(), CHECK_TIMEOUT_S)
            return True
        except TimeoutError:
            return "no answer within 2 s"
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            return f"{type(exc).__name__}: {exc}"

    # ---- HTTP

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            method, path = (request.split(b"\r\n", 1)[0].decode("latin-1").split(" ") + ["", ""])[:2]
            status, content_type, body = await self._route(method, path.split("?", 1)[0])
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                         f"Connection: close\r\n\r\n".encode() + (body if method != "HEAD" else b""))
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _route(self, method: str, path: str) -> tuple[str, str, bytes]:
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", "text/plain", b"GET only\n"
        if path == "/metrics":
            return "200 OK", CONTENT_TYPE_LATEST, await self.metrics_text()
        if path in ("/health/ready", "/health/live"):
            ok, body = await self.ready() if path == "/health/ready" else self.live()
            return ("200 OK" if ok else "503 Service Unavailable", "application/json",
                    json.dumps({"ok": ok, **body}).encode() + b"\n")
        return "404 Not Found", "text/plain", b"not found: try /metrics, /health/ready, /health/live\n"
