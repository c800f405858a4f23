"""The read benchmark (bench/read.py) cannot rot: a small archive is filled, served over HTTP and
read whole; it checks its own counts (every message of the span streamed, every page of 100 full)
and the page query's plan, never a time."""

from __future__ import annotations

import argparse

from bench.read import run


def test_the_read_benchmark_streams_every_message_and_pages_use_the_index(postgres_url, tmp_path):
    args = argparse.Namespace(messages=2000, chats=2, repeat=1, pages=5, batch=100)
    result = run(postgres_url, args, tmp_path)
    assert (result["messages"], result["chats"], result["pages"]) == (2000, 2, 5)
    assert result["history_messages_per_s"] > 0
    assert not result["seq_scan_of_messages"] and "Index Scan using messages_chat_date_idx" in result["page_plan"]
