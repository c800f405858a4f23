"""bench/read_export.py cannot rot: it reads a small generated export whole and counts; never a time."""

from __future__ import annotations

from bench.generate_export import generate
from bench.read_export import measure


def test_the_reader_benchmark_reads_every_message(shared_data, tmp_path):
    file = generate(tmp_path / "export", 500, layout="account", chats=2, data_dir=shared_data)
    result = measure(file.parent, "UTC")
    assert (result["messages"], result["bytes"]) == (500, file.stat().st_size)
    assert result["max_rss_mb"] > 0 and result["messages_per_s"] > 0
