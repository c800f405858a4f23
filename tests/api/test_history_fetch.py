"""``GET /api/v1/history`` end to end: the API's Kafka fetcher, the real broker, the real writer, and
the Telegram collector on the fake client (real ``telethon.tl.types`` objects).

The cache system's test list over HTTP: with 01-01..10 and 01-20..31 archived, asking for
01-01..31 fetches only the hole and then streams the whole month in order with an ``end`` event;
asking again fetches nothing; a fetch that fails mid-way answers a problem before any message and
leaves the hole uncovered.
"""

from __future__ import annotations

from services.api.app import create_app
from tests.support.api import client, events

from tests.support.telegram_pipeline import NEWS, running_collector, two_ends_archived
from tgpipe.db.coverage import chat_coverage

MONTH = {"start_date": "2024-01-01", "end_date": "2024-01-31"}


def _ids(body: str) -> tuple[list[int], dict]:
    served = events(body)
    ids = [m["message_id"] for kind, data in served if kind == "message" for m in data["messages"]]
    ends = [data for kind, data in served if kind == "end"]
    assert len(ends) == 1 and served[-1][0] == "end", served
    return ids, ends[0]


async def test_the_history_of_a_partly_covered_month_fetches_its_hole_then_streams_it_whole(settings, db):
    async with two_ends_archived(settings, db) as p:
        fake = p.fake
        async with running_collector(p, ["@news"]), \
                client(create_app(p.settings, fetch_through_kafka=True)) as http:
            before = len(fake.reads)
            first = await http.get(f"/api/v1/history/{NEWS}", params=MONTH)
            assert first.status_code == 200, first.text
            hole_reads = [[i for i, _ in read] for _chat, read in fake.reads[before:] if read]
            reads = len(fake.reads)
            again = await http.get(f"/api/v1/history/{NEWS}", params=MONTH)
            assert again.status_code == 200, again.text
            reads_again = len(fake.reads) - reads
    ids, end = _ids(first.text)
    assert ids == list(range(1, 32))  # the whole month, in (date, id) order, each message once
    assert end["count"] == 31
    # Only the hole 01-11..19 (and message 20, which ends it) was read; [31] is the collector's own
    # start-up backfill, which reads from its cursor (the newest archived message) concurrently.
    assert [read for read in hole_reads if read != [31]] == [list(range(11, 21))]
    assert _ids(again.text) == (ids, end)
    assert reads_again == 0  # the second request touched Telegram not at all


async def test_a_fetch_failing_mid_way_answers_a_problem_before_any_message_and_covers_nothing(settings, db):
    async with two_ends_archived(settings, db) as p:
        fake = p.fake
        async with db.acquire() as conn:
            holes_before = (await chat_coverage(conn, NEWS)).date_holes
        fake.fail("iter", (NEWS, 15), ConnectionError("network went away"))  # in the middle of the hole
        async with running_collector(p, ["@news"]), \
                client(create_app(p.settings, fetch_through_kafka=True)) as http:
            response = await http.get(f"/api/v1/history/{NEWS}", params=MONTH)
        async with db.acquire() as conn:
            holes_after = (await chat_coverage(conn, NEWS)).date_holes
    assert response.status_code == 502, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "data:" not in response.text
    assert "network went away" in response.json()["detail"]
    assert holes_after == holes_before  # nothing of the failed fetch counts as covered
