"""Start-up waiting and readiness of a deployed service (writer or media).

A service that starts before Kafka or PostgreSQL answers does not crash: :func:`wait_for` retries
the step with capped exponential backoff while the error is transient
(:func:`tgpipe.errors.is_transient`), logging one line per attempt that names what it waits for.

:class:`Readiness` is the service's state for probes: ``starting`` → ``waiting`` (``detail``
says for what and why) → ``ready`` (consuming) → ``stopping`` → ``stopped``. A consumer that has
held records for ``TGPIPE_STALL_TIMEOUT_S`` without committing their offsets is ``stalled`` (not
ready; ``detail`` names the partitions) until it does (:mod:`tgpipe.stall`). With
``TGPIPE_READINESS_FILE`` set, every change is written there as JSON (``{"state", "detail",
"pid", "since"}``, replaced atomically), so an exec probe can read it, e.g.
``grep -q '"state": "ready"' FILE``. A process killed outright leaves its last state behind:
pair the probe with a liveness check of the process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from tgpipe.errors import is_transient

log = logging.getLogger(__name__)
T = TypeVar("T")


class Readiness:
    """The current state of a service, mirrored to ``path`` (when given) on every change."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.state = ""
        self.detail = ""
        self.set("starting")

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    def set(self, state: str, detail: str = "") -> None:
        """Record ``state`` (and why); write the readiness file if there is one."""
        if (state, detail) == (self.state, self.detail):
            return
        self.state, self.detail = state, detail
        if self.path is not None:
            record = {"state": state, "detail": detail, "pid": os.getpid(),
                      "since": datetime.now(UTC).isoformat()}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
            tmp.write_text(json.dumps(record) + "\n")
            tmp.replace(self.path)


async def wait_for(what: str, step: Callable[[], Awaitable[T]], readiness: Readiness, *,
                   initial_s: float = 0.5, max_s: float = 10.0) -> T:
    """Run ``step`` until it succeeds, waiting (doubling from ``initial_s`` up to ``max_s``)
    after each transient failure; readiness is ``waiting`` meanwhile.

    Raises:
        Exception: the first error that is not transient (a wrong password, a bad URL…).
    """
    delay, attempt = initial_s, 1
    while True:
        try:
            return await step()
        except Exception as exc:
            if not is_transient(exc):
                raise
            reason = str(exc) if str(exc).startswith(type(exc).__name__) else f"{type(exc).__name__}: {exc}"
            log.warning("waiting for %s (%s); attempt %d failed, next in %.1f s",
                        what, reason, attempt, delay)
            readiness.set("waiting", f"{what}: {reason}")
        await asyncio.sleep(delay)
        delay, attempt = min(delay * 2, max_s), attempt + 1
