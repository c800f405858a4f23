"""bench/proctree.py: the peaks of a command's whole process tree, grandchildren included, and
killing that tree."""

from __future__ import annotations

import subprocess
import sys

import psutil

from bench.proctree import TreePeaks, kill_tree

# Holds 60 MB (every byte written: not zero pages the kernel has not given yet), says so, then waits
# for its stdin (inherited) to close.
GRANDCHILD = "x = b'1' * 60_000_000; print('ready', flush=True); import sys; sys.stdin.read()"


def test_tree_peaks_reads_every_process_of_the_tree_and_kill_tree_ends_them_all():
    with subprocess.Popen(
            [sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, '-c', {GRANDCHILD!r}])"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as parent:
        try:
            assert parent.stdout.readline() == "ready\n"
            peaks = TreePeaks(parent.pid)
            peaks.sample()
            found = peaks.as_dict()
            tree = psutil.Process(parent.pid).children(recursive=True)
        finally:
            kill_tree(parent.pid)

    assert [p["pid"] for p in found["processes"]] == sorted([parent.pid, *(p.pid for p in tree)])
    grandchild = next(p for p in found["processes"] if p["pid"] != parent.pid)
    assert grandchild["peak_rss_mb"] >= 60 and found["max_peak_rss_mb"] == grandchild["peak_rss_mb"]
    assert all(p["command"].startswith("python") for p in found["processes"])  # the interpreter's path cut
    _, alive = psutil.wait_procs(tree, timeout=30)
    assert alive == []
