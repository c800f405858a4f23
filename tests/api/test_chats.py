"""GET /api/v1/chats and /api/v1/chats/{chat_id}/coverage."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.api.app import create_app
from tests.support.api import client, export_date

pytestmark = pytest.mark.e2e


async def test_chats_lists_the_archived_chat_with_its_counts_dates_and_coverage(trantor):
    async with client(create_app(trantor.settings)) as http:
        response = await http.get("/api/v1/chats")
    assert response.status_code == 200
    [chat] = response.json()["chats"]
    dates = sorted(export_date(m, trantor.zone) for m in trantor.raw["messages"])
    assert chat["chat_id"] == trantor.chat_id
    assert (chat["type"], chat["title"]) == (trantor.raw["type"], trantor.raw["name"])
    assert chat["message_count"] == len(trantor.raw["messages"])
    assert datetime.fromisoformat(chat["first_message_date"]) == dates[0]
    assert datetime.fromisoformat(chat["last_message_date"]) == dates[-1]
    assert chat["coverage"]["date_holes"] == 0
    assert [(datetime.fromisoformat(d["start"]), datetime.fromisoformat(d["end"]))
            for d in chat["coverage"]["dates"]] == [(dates[0], dates[-1])]


async def test_coverage_shows_ranges_sources_and_holes(trantor):
    async with client(create_app(trantor.settings)) as http:
        response = await http.get(f"/api/v1/chats/{trantor.chat_id}/coverage")
        unknown = await http.get("/api/v1/chats/42/coverage")
    assert response.status_code == 200
    coverage = response.json()
    ids = [m["id"] for m in trantor.raw["messages"]]
    assert coverage["ids"] == [{"first": min(ids), "last": max(ids)}]
    assert {r["source"] for r in coverage["ranges"]} == {"export"}
    assert coverage["id_holes"] == [] and coverage["date_holes"] == []
    assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"


async def test_the_api_cannot_write(trantor):
    """Its connections run READ ONLY transactions: even a write slipped into a query fails."""
    app = create_app(trantor.settings)
    async with client(app) as http:
        assert (await http.get("/health")).status_code == 200
        async with app.state.pool.acquire() as conn:
            assert await conn.fetchval("SHOW default_transaction_read_only") == "on"
            with pytest.raises(Exception, match="read-only transaction"):
                await conn.execute("DELETE FROM coverage")
        assert (await http.get(f"/api/v1/chats/{trantor.chat_id}/coverage")).json()["ranges"]


async def test_a_chat_and_date_range_reads_the_date_index_not_a_sequential_scan(trantor):
    from services.api.queries import _PAGE

    app = create_app(trantor.settings)
    async with client(app):
        async with app.state.pool.acquire() as conn:
            await conn.execute("SET enable_seqscan = off")  # a 924-row table: ask what the planner *can* use
            plan = "\n".join(r[0] for r in await conn.fetch(
                "EXPLAIN " + _PAGE, trantor.chat_id, datetime(2023, 8, 1, tzinfo=UTC), -(2**63),
                datetime(2023, 8, 31, tzinfo=UTC), None, 100))
            await conn.execute("RESET enable_seqscan")
    assert "messages_chat_date_idx" in plan, plan
    assert "Sort" not in plan.split("->")[0] and "Seq Scan on messages" not in plan, plan
    # The scan starts at the key: the chat by equality, then (date, message_id) as a row bound (a row
    # comparison that includes channel_id would start at the chat's first entry: bench/read.py).
    assert "(channel_id = " in plan and "(ROW(date, message_id) > ROW(" in plan, plan
