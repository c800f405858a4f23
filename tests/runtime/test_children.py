"""The writer and media service in child processes: a child's death fails the parent's work at
once, with one line; the parent's death (SIGKILL) makes the children exit on their own."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

import pytest

from tests.support.env import settings_env
from tests.support.processes import gone
from tests.support.waiting import eventually
from tgpipe.kafka.broker import ensure_topics
from tgpipe.runtime.children import ROLES, ServiceProcessDied, service_processes
from tgpipe.runtime.progress import ProgressTracker

pytestmark = pytest.mark.e2e

PARENT = """
import asyncio, json, sys
from tgpipe.runtime.children import service_processes
from tgpipe.runtime.progress import ProgressTracker
from tgpipe.settings import Settings

async def main():
    async with service_processes(Settings(), ProgressTracker()) as pids:
        print(json.dumps(pids), flush=True)
        await asyncio.Event().wait()

if __name__ == "__main__":
    asyncio.run(main())
"""


@pytest.mark.parametrize("role", ROLES)
async def test_a_killed_child_ends_the_work_with_one_line(settings, role):
    await ensure_topics(settings)
    with pytest.raises(ServiceProcessDied, match=rf"^the {role} process \(pid \d+\) was killed by SIGKILL; stopped$"):
        async with asyncio.timeout(120):  # a bound for a failing run: only the child's death ends the block
            async with service_processes(settings, ProgressTracker()) as pids:
                os.kill(pids[role], signal.SIGKILL)
                await asyncio.Event().wait()
    assert all(gone(pid) for pid in pids.values())  # the other child was stopped too


async def test_children_of_a_killed_parent_exit_on_their_own(settings, tmp_path):
    await ensure_topics(settings)
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGPIPE_")} | settings_env(settings)
    parent = await asyncio.create_subprocess_exec(sys.executable, str(script), env=env,
                                                  stdout=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL)
    try:
        async with asyncio.timeout(120):
            pids = json.loads(await parent.stdout.readline())
        assert set(pids) == set(ROLES) and not any(gone(pid) for pid in pids.values())
        parent.send_signal(signal.SIGKILL)
        assert await parent.wait() == -signal.SIGKILL
        await eventually(lambda: all(gone(pid) for pid in pids.values()), 60, f"children {pids} exited")
    finally:
        if parent.returncode is None:
            parent.kill()
            await parent.wait()
