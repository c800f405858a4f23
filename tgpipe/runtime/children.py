"""The writer and the media service each in a process of its own, for ``tgpipe archive``.

:func:`service_processes` starts one child per service with :mod:`multiprocessing`'s ``spawn``
context (a fresh interpreter: no state copied from the parent, a core of its own). A child runs
its service exactly as :func:`~tgpipe.runtime.inprocess.running_services` does and reports the
service's hooks to the parent over its pipe, one message per hook call (a service calls each hook
once per batch) holding the batch's message keys, which the parent applies to its
:class:`~tgpipe.runtime.progress.ProgressTracker`.

Lifetimes are tied both ways through that pipe:

* a child that exits while the parent still needs it (a crash, SIGKILL, an error at start-up)
  closes its end: the parent sees end-of-file at once, cancels the work inside
  :func:`service_processes` and raises :class:`ServiceProcessDied` (one line);
* a parent that goes away (even SIGKILLed) takes its children with it: the kernel sends them
  SIGKILL (``PR_SET_PDEATHSIG``, Linux), and a child that sees end-of-file on its pipe (or cannot
  report to it) exits at once too, wherever it is. A kill of the parent is thus a kill of the whole
  archive, as when it was one process: no service goes on writing what the parent can no longer
  checkpoint (:mod:`tgpipe.ops.resume`). Asked to ``stop``, a child stops its service instead
  (the batch in hand finishes, its consumers leave their groups).

Children ignore SIGINT: Ctrl-C in a terminal reaches the whole process group, and the parent
decides (it stops them on its way out, then reports the interruption).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import multiprocessing
import os
import signal
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from schemas import MessageCommitted, RangeCompleted
from tgpipe.errors import TgpipeError
from tgpipe.runtime.inprocess import running_services
from tgpipe.runtime.progress import MessageKey, ProgressTracker, Stage
from tgpipe.settings import Settings

ROLES = ("writer", "media")
"""The services :func:`service_processes` can run, one child each."""

_READY, _FAILED, _COVERED, _STOP = "ready", "failed", "covered", "stop"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
EXIT_ORPHANED = 3
"""A child's exit code when it found its parent gone."""


class ServiceProcessDied(TgpipeError):
    """A service's child process exited (crashed, was killed, or failed to start) while it was needed."""


class _PipeReporter:
    """The service hooks of a child: each call becomes one message to the parent (keys only).

    When the parent is gone the child exits at once (:func:`_orphaned`).
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _report(self, message: tuple[object, object]) -> None:
        try:
            self._conn.send(message)
        except OSError:  # BrokenPipeError, ConnectionResetError: the parent is gone
            _orphaned()

    def _send(self, stage: Stage, keys: Iterable[MessageKey]) -> None:
        self._report((int(stage), list(keys)))

    def on_committed(self, events: list[MessageCommitted]) -> None:
        self._send(Stage.COMMITTED, ((e.payload.channel_id, e.payload.message_id) for e in events))

    def on_superseded(self, keys: list[MessageKey]) -> None:
        if keys:
            self._send(Stage.SUPERSEDED, keys)

    def on_processed(self, events: list[MessageCommitted]) -> None:
        self._send(Stage.PROCESSED, ((e.payload.channel_id, e.payload.message_id) for e in events))

    def on_covered(self, events: list[RangeCompleted]) -> None:
        self._report((_COVERED, [e.event_id for e in events]))


def _orphaned() -> None:
    """The parent is gone: exit now, as if killed with it (no cleanup, nothing more written)."""
    os._exit(EXIT_ORPHANED)


def _die_with_parent() -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux; elsewhere the pipe's
    end-of-file does it, as soon as the event loop sees it)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the call
        _orphaned()


async def _serve(role: str, settings: Settings, conn: Connection) -> None:
    """Run ``role``'s service until the parent says stop (or exit at once when it goes away)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_readable() -> None:
        try:
            conn.recv()  # the only message a parent sends: stop
        except (EOFError, OSError):
            _orphaned()
        stop.set()

    async with running_services(settings, _PipeReporter(conn), writer=role == "writer", media=role == "media",
                                collector=False):
        loop.add_reader(conn.fileno(), on_readable)
        conn.send((_READY, None))
        await stop.wait()
        loop.remove_reader(conn.fileno())


def _child_main(role: str, settings: Settings, conn: Connection) -> None:
    """The entry point of a child (runs in the spawned interpreter)."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING)
    try:
        asyncio.run(_serve(role, settings, conn))
    except Exception as exc:
        try:
            conn.send((_FAILED, f"{type(exc).__name__}: {exc}"))
        except OSError:  # the parent is gone
            pass
        raise SystemExit(1) from None


@dataclass
class _Child:
    role: str
    process: BaseProcess
    conn: Connection
    ready: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    failure: str | None = None
    ended: bool = False  # its pipe is at end-of-file

    def describe_exit(self) -> str:
        """How the child ended, for the one line of :class:`ServiceProcessDied`."""
        code = self.process.exitcode
        if self.failure:
            how = f"failed: {self.failure}"
        elif code is None:
            how = "closed its pipe"
        elif code < 0:
            how = f"was killed by {signal.Signals(-code).name}"
        else:
            how = f"exited with code {code}"
        return f"the {self.role} process (pid {self.process.pid}) {how}"


@asynccontextmanager
async def service_processes(settings: Settings, tracker: ProgressTracker, roles: Iterable[str] = ROLES,
                            *, stop_timeout: float = 30.0) -> AsyncIterator[dict[str, int]]:
    """Run each of ``roles`` (see :data:`ROLES`) in a child process feeding ``tracker``.

    Yields ``{role: process id}`` once every child's service is started (consumers subscribed).
    Migrations must already be applied. On exit each child is asked to stop and given ``stop_timeout`` seconds before it
    is terminated.

    Raises:
        ServiceProcessDied: a child exited before it was asked to stop. The others are then asked
            to stop at once and ``tracker`` gets their last reports; once they ended (or after
            ``stop_timeout`` seconds) the work inside the ``async with`` block is cancelled.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    context = multiprocessing.get_context("spawn")
    children: list[_Child] = []
    dead: list[_Child] = []
    cancelled: list[bool] = []
    timers: list[asyncio.TimerHandle] = []
    stopping = False

    def on_readable(child: _Child) -> None:
        try:
            while child.conn.poll():
                kind, payload = child.conn.recv()
                if kind == _READY:
                    if not child.ready.done():  # cancelled when the start was interrupted
                        child.ready.set_result(None)
                elif kind == _FAILED:
                    child.failure = payload
                elif kind == _COVERED:
                    tracker.record_covered(payload)
                else:
                    tracker.record(Stage(kind), payload)
        except (EOFError, OSError):
            loop.remove_reader(child.conn.fileno())
            child.ended = True
            if stopping:
                return
            if not dead:  # the others stop, their last reports still applied; then the work is cancelled
                dead.append(child)
                _ask_to_stop(children)
                timers.append(loop.call_later(stop_timeout, cancel_once))
            if all(c.ended for c in children):
                cancel_once()

    def cancel_once() -> None:
        if not cancelled:
            cancelled.append(True)
            task.cancel()

    try:
        for role in roles:
            parent_end, child_end = context.Pipe()
            process = context.Process(target=_child_main, args=(role, settings, child_end),
                                      name=f"tgpipe-{role}", daemon=True)
            process.start()
            child_end.close()  # the child's exit must close its end's last copy (end-of-file here)
            children.append(child := _Child(role, process, parent_end))
            loop.add_reader(parent_end.fileno(), on_readable, child)
        await asyncio.gather(*(child.ready for child in children))
        yield {child.role: child.process.pid for child in children}
    except BaseException as exc:  # cancelled (or failing) because a child died: that is the error
        if not dead:
            raise
        if isinstance(exc, asyncio.CancelledError):
            task.uncancel()
        await asyncio.to_thread(dead[0].process.join, 5)
        raise ServiceProcessDied(f"{dead[0].describe_exit()}; stopped") from None
    finally:
        stopping = True
        for timer in timers:
            timer.cancel()
        await _stop(children, stop_timeout)


def _ask_to_stop(children: list[_Child]) -> None:
    """Tell each child to stop its service and exit (it finishes the batch in hand first)."""
    for child in children:
        try:
            child.conn.send(_STOP)
        except OSError:  # already gone
            pass


async def _stop(children: list[_Child], timeout: float) -> None:
    """Ask each child to stop, wait for them, terminate (then kill) whichever is still running."""
    _ask_to_stop(children)
    for child in children:
        await asyncio.to_thread(child.process.join, timeout)
        for end in (child.process.terminate, child.process.kill):
            if child.process.is_alive():
                end()
                await asyncio.to_thread(child.process.join, 5)
        asyncio.get_running_loop().remove_reader(child.conn.fileno())
        child.conn.close()
