"""The search benchmark (bench/search.py) cannot rot: a small archive of the exports' texts is filled
and searched over HTTP; it checks what it found (each query's matching messages, in and out of a
chat, and that the plans read the GIN index), never a time."""

from __future__ import annotations

import argparse

from bench.search import QUERIES, run


def test_the_search_benchmark_finds_each_query_through_the_gin_index(postgres_url, tmp_path):
    args = argparse.Namespace(messages=4000, chats=2, repeat=2)
    result = run(postgres_url, args, tmp_path)
    assert (result["messages"], result["chats"]) == (4000, 2)
    assert set(result["queries"]) == {f"{name}{suffix}" for name in QUERIES for suffix in ("", "_in_chat")}
    for name, query in result["queries"].items():
        assert query["matching"] > 0, name
        assert "Bitmap Index Scan on messages_search_idx" in query["plan"], name
    # Each export's texts fill one of the two chats: a query of one script matches in its chat only.
    for name in QUERIES:
        assert result["queries"][name]["matching"] == result["queries"][f"{name}_in_chat"]["matching"], name
    assert result["document_us_per_text"] > 0
