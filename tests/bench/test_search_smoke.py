"""The search benchmark (bench/search.py) cannot rot: a small archive of the exports' texts is filled
and searched over HTTP; it checks what it found (each query's matching messages, in and out of a
chat, and that the plans read the GIN index), never a time."""

from __future__ import annotations

import argparse

from bench.search import QUERIES, run


def test_the_search_benchmark_finds_each_query_through_an_index(postgres_url, tmp_path):
    args = argparse.Namespace(messages=4000, chats=2, repeat=2)
    result = run(postgres_url, args, tmp_path)
    assert (result["messages"], result["chats"]) == (4000, 2)
    suffixes = ("", "_in_chat", "_by_date", "_in_chat_by_date")
    assert set(result["queries"]) == {f"{name}{suffix}" for name in QUERIES for suffix in suffixes}
    for name, query in result["queries"].items():
        assert query["matching"] > 0, name
        assert "Seq Scan on messages" not in query["plan"], name
        assert any(f" {index} " in query["plan"]  # "Bitmap Index Scan on …", "Index Scan … using …"
                   for index in ("messages_search_idx", "messages_chat_date_idx", "messages_date_idx")), name
        assert query["rank_window"] is None, name  # at most 2,000 matches: under the window
    # Each export's texts fill one of the two chats: a query of one script matches in its chat only.
    for name in QUERIES:
        assert len({result["queries"][f"{name}{suffix}"]["matching"] for suffix in suffixes}) == 1, name
    assert result["document_us_per_text"] > 0
