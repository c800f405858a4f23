"""Peak memory of every process of a command's process tree, sampled from outside while it runs.

A command such as ``tgpipe archive`` may run its parts as child processes (and they theirs): the
tree is the command's process and all its descendants, listed again at every sample, so children
started later are found too. Each process's ``VmHWM`` (its own peak resident set size, kept by
the kernel) is read from ``/proc/<pid>/status`` every ``interval`` seconds and its highest reading
kept, with its CPU time (user + system) at its last sample. ``VmHWM`` never decreases, so a
reading is exact up to the growth of a process's last interval before it exits (and its CPU time
short by at most that interval); a process that lives less than one interval may be missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil


def vm_hwm_mb(pid: int) -> float | None:
    """``VmHWM`` of process ``pid`` in MB (10^6 bytes); ``None`` when it is gone (or a zombie)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    except (OSError, ValueError):
        return None
    return None


@dataclass
class TreePeaks:
    """The highest ``VmHWM`` seen of each process of ``pid``'s tree (see the module docstring)."""

    pid: int
    interval: float = 0.25
    peaks_mb: dict[int, float] = field(default_factory=dict)
    cpu_s: dict[int, float] = field(default_factory=dict)
    commands: dict[int, str] = field(default_factory=dict)
    samples: int = 0

    def sample(self) -> None:
        """Read every process of the tree once."""
        try:
            root = psutil.Process(self.pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            return  # the command has exited
        self.samples += 1
        for process in tree:
            peak = vm_hwm_mb(process.pid)
            if peak is None:
                continue
            with contextlib.suppress(psutil.Error):
                if process.pid not in self.commands:
                    self.commands[process.pid] = _label(process.cmdline())
                times = process.cpu_times()
                self.cpu_s[process.pid] = times.user + times.system
            self.peaks_mb[process.pid] = max(peak, self.peaks_mb.get(process.pid, 0.0))

    async def run(self) -> None:
        """Sample every ``interval`` seconds until cancelled."""
        while True:
            began = time.monotonic()
            self.sample()
            await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - began)))

    def as_dict(self) -> dict[str, Any]:
        """``{"processes": [{"pid", "command", "peak_rss_mb", "cpu_s"}…], "max_peak_rss_mb", "cpu_s"
        (of them all), "samples", "interval_s"}``."""
        processes = [{"pid": pid, "command": self.commands.get(pid, "?"), "peak_rss_mb": round(mb, 1),
                      "cpu_s": round(self.cpu_s.get(pid, 0.0), 2)} for pid, mb in sorted(self.peaks_mb.items())]
        return {"processes": processes, "max_peak_rss_mb": max((p["peak_rss_mb"] for p in processes), default=None),
                "cpu_s": round(sum(p["cpu_s"] for p in processes), 2), "samples": self.samples,
                "interval_s": self.interval}


def kill_tree(pid: int) -> None:
    """Kill (SIGKILL) process ``pid`` and every descendant it has now; those already gone are skipped."""
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        for process in [*root.children(recursive=True), root]:
            with contextlib.suppress(psutil.Error):
                process.kill()


def _label(cmdline: list[str]) -> str:
    """A process's command line, the interpreter and script named without their directories, cut at 160
    characters: ``python tgpipe archive --export …``."""
    return " ".join(Path(arg).name if i < 2 and arg.startswith("/") else arg for i, arg in enumerate(cmdline))[:160]
