"""tgpipe services as real processes (``tgpipe writer`` / ``tgpipe media`` as deployed, configured by
``TGPIPE_*`` variables only), optionally with a :class:`Fault` injected by
``tests/faults/injector/sitecustomize.py`` (SIGKILL or a pause at the n-th call of a named coroutine)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from tests.support.env import settings_env
from tgpipe.settings import Settings

INJECTOR = Path(__file__).resolve().parents[1] / "faults" / "injector"


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
    """``tgpipe COMMAND ARGS…`` in a subprocess; output goes to ``log_path`` (see :meth:`log`)."""

    def __init__(self, settings: Settings, log_path: Path, command: str = "writer", fault: Fault | None = None,
                 extra_env: dict[str, str] | None = None, args: tuple[str, ...] = ()):
        self.settings, self.log_path, self.command, self.fault = settings, log_path, command, fault
        self.extra_env, self.args = extra_env or {}, args
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
                tgpipe, self.command, *self.args, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=log,
                stderr=log)
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


def gone(pid: int) -> bool:
    """The process ``pid`` has exited (a zombie nobody reaped yet counts: it runs nothing)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def spawned_children(pid: int) -> list[int]:
    """The children of ``pid`` started by :mod:`multiprocessing`'s ``spawn`` (not its resource tracker)."""
    return [c.pid for c in psutil.Process(pid).children() if "--multiprocessing-fork" in c.cmdline()]
