"""bench/collector_costs.py cannot rot: its steps read a small generated export whole, and its publish
run gets every message acknowledged by an embedded Tansu; counts only, never a time."""

from __future__ import annotations

import asyncio
from zoneinfo import ZoneInfo

from bench.collector_costs import publish, steps
from bench.generate_export import generate


def test_the_collector_benchmark_reads_and_publishes_every_message(shared_data, tmp_path):
    file = generate(tmp_path / "export", 300, layout="account", chats=2, data_dir=shared_data)
    result = steps(file.parent, ZoneInfo("UTC"))
    assert result["messages"] == 300
    assert set(result) == {"messages", "parse", "survey", "payloads", "envelope", "encode"}
    assert asyncio.run(publish(file.parent, ZoneInfo("UTC")))["messages"] == 300
