"""GET /api/v1/history/{chat_id}: a period streamed whole from the archive, or a problem and no data."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import asyncpg
import httpx
import pytest

from services.api import queries
from services.api.app import create_app
from tests.support.api import client, events, export_messages, served_in_thread
from tgpipe.kafka.fetch import FetchError

pytestmark = pytest.mark.e2e


def _period(day_from: str, day_to: str) -> tuple[datetime, datetime]:
    start = datetime.fromisoformat(day_from).replace(tzinfo=UTC)
    return start, datetime.fromisoformat(day_to).replace(tzinfo=UTC) + timedelta(days=1, microseconds=-1)


def _served(body: str) -> tuple[list[tuple[int, datetime, str]], dict]:
    found = events(body)
    assert [name for name, _ in found[:-1]] == ["message"] * (len(found) - 1)
    name, end = found[-1]
    assert name == "end"
    messages = [(m["message_id"], datetime.fromisoformat(m["date"]), m["text"])
                for _, data in found[:-1] for m in data["messages"]]
    return messages, end


@pytest.mark.parametrize(("day_from", "day_to"), [("2023-08-01", "2023-08-31"), ("2023-07-18", "2025-02-27")])
async def test_a_covered_period_of_trantor_streams_exactly_the_exports_messages_in_order(trantor, day_from, day_to):
    await _streams_the_export(trantor, day_from, day_to)


async def test_a_covered_period_of_hejazizo_streams_exactly_the_exports_messages_in_order(hejazizo):
    await _streams_the_export(hejazizo, "2020-08-05", "2020-08-09")


async def _streams_the_export(archived, day_from, day_to):
    app = create_app(archived.settings.model_copy(update={"api_history_batch": 50}), fetcher=_Refusing())
    async with client(app) as http:
        response = await http.get(f"/api/v1/history/{archived.chat_id}",
                                  params={"start_date": day_from, "end_date": day_to})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    messages, end = _served(response.text)
    expected = export_messages(archived.raw, archived.zone, *_period(day_from, day_to))
    assert expected, "the period must hold messages for this test to mean anything"
    assert messages == expected
    assert end["count"] == len(expected)
    assert end["covered"] == {"start": f"{day_from}T00:00:00Z", "end": f"{day_to}T23:59:59.999999Z"}
    assert all(len(data["messages"]) <= 50 for _, data in events(response.text)[:-1])


async def test_datetimes_with_a_zone_bound_the_period_exactly(trantor):
    expected = export_messages(trantor.raw, trantor.zone, *_period("2023-08-01", "2023-08-31"))
    first, last = expected[3][1], expected[-3][1]
    async with client(create_app(trantor.settings)) as http:
        response = await http.get(f"/api/v1/history/{trantor.chat_id}", params={
            "start_date": first.astimezone(_PLUS_8).isoformat(), "end_date": last.isoformat()})
    messages, _ = _served(response.text)
    assert messages == [m for m in expected if first <= m[1] <= last]


async def test_an_uncovered_period_without_a_fetcher_is_503_before_any_data(trantor):
    async with client(create_app(trantor.settings)) as http:
        response = await http.get(f"/api/v1/history/{trantor.chat_id}",
                                  params={"start_date": "2025-03-01", "end_date": "2025-03-31"})
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:tgpipe:problem:not-archived" and "fetching is off" in problem["detail"]
    assert "data:" not in response.text


async def test_a_failed_fetch_is_a_problem_and_sends_nothing(trantor):
    fetcher = _Failing("no Telegram collector serves this chat")
    async with client(create_app(trantor.settings, fetcher=fetcher)) as http:
        response = await http.get(f"/api/v1/history/{trantor.chat_id}",
                                  params={"start_date": "2023-08-01", "end_date": "2025-03-31"})
    assert response.status_code == 502
    assert response.headers["content-type"] == "application/problem+json"
    assert "no Telegram collector serves this chat" in response.json()["detail"]
    assert "data:" not in response.text
    assert fetcher.asked == [(trantor.chat_id, *_period("2023-08-01", "2025-03-31"))]


async def test_a_fetched_period_is_served_and_a_repeated_request_fetches_nothing(trantor):
    fetcher = _Recording(trantor.settings.database_url)
    start, end = _period("2025-03-01", "2025-03-10")
    async with client(create_app(trantor.settings, fetcher=fetcher)) as http:
        for _ in range(2):
            response = await http.get(f"/api/v1/history/{trantor.chat_id}",
                                      params={"start_date": "2025-03-01", "end_date": "2025-03-10"})
            assert response.status_code == 200, response.text
            assert _served(response.text) == ([], {"chat_id": trantor.chat_id, "count": 0, "covered": {
                "start": "2025-03-01T00:00:00Z", "end": "2025-03-10T23:59:59.999999Z"}})
    assert fetcher.asked == [(trantor.chat_id, start, end)]


async def test_a_fetcher_that_returns_without_coverage_is_a_problem(trantor):
    async with client(create_app(trantor.settings, fetcher=_Failing(None))) as http:
        response = await http.get(f"/api/v1/history/{trantor.chat_id}",
                                  params={"start_date": "2026-01-01", "end_date": "2026-01-02"})
    assert response.status_code == 502 and "still does not cover" in response.json()["detail"]


@pytest.mark.parametrize(("params", "parameter"), [
    ({"start_date": "2023-13-01", "end_date": "2023-12-31"}, "start_date"),
    ({"start_date": "2023-08-01", "end_date": "yesterday"}, "end_date"),
    ({"start_date": "2023-08-02", "end_date": "2023-08-01"}, "end_date"),
    ({"start_date": "2023-08-01"}, "end_date"),
])
async def test_bad_dates_are_422_naming_the_parameter(trantor, params, parameter):
    async with client(create_app(trantor.settings)) as http:
        response = await http.get(f"/api/v1/history/{trantor.chat_id}", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["parameter"] == parameter


async def test_an_unknown_chat_is_404(trantor):
    async with client(create_app(trantor.settings, fetcher=_Refusing())) as http:
        response = await http.get("/api/v1/history/42", params={"start_date": "2023-08-01", "end_date": "2023-08-31"})
    assert response.status_code == 404 and response.json()["type"] == "urn:tgpipe:problem:unknown-chat"


_PLUS_8 = timezone(timedelta(hours=8))


class _Refusing:
    """A fetcher that must not be called: the period is covered."""

    async def fetch(self, chat_id, start, end):
        raise AssertionError(f"a covered period was fetched: {chat_id} {start}..{end}")


class _Failing:
    """A fetcher whose fetch fails with ``reason`` (or, with ``None``, returns having archived nothing)."""

    def __init__(self, reason):
        self.reason, self.asked = reason, []

    async def fetch(self, chat_id, start, end):
        self.asked.append((chat_id, start, end))
        if self.reason is not None:
            raise FetchError(self.reason)


class _Recording:
    """A fetcher that records the period's coverage (as the writer does after a fetch that found nothing)."""

    def __init__(self, database_url):
        self.database_url, self.asked = database_url, []

    async def fetch(self, chat_id, start, end):
        self.asked.append((chat_id, start, end))
        conn = await asyncpg.connect(self.database_url)
        try:
            await conn.execute("INSERT INTO coverage (event_id, channel_id, message_ids, dates, source) VALUES "
                               "(gen_random_uuid(), $1, int8range(100000, 100000, '[]'), tstzrange($2, $3, '[]'), "
                               "'telegram_backfill')", chat_id, start, end)
        finally:
            await conn.close()


async def test_more_concurrent_streams_than_pooled_connections_all_finish(trantor):
    """A stream holds one connection (its snapshot), never a second one on top: twelve at once on a
    pool of eight all end."""
    async with client(create_app(trantor.settings.model_copy(update={"api_history_batch": 20}))) as http:
        responses = await asyncio.wait_for(asyncio.gather(*(
            http.get(f"/api/v1/history/{trantor.chat_id}", params={"start_date": "2023-08-01",
                                                                      "end_date": "2023-08-31"})
            for _ in range(12))), timeout=120)
    assert {r.status_code for r in responses} == {200}
    assert {_served(r.text)[1]["count"] for r in responses} == {len(export_messages(
        trantor.raw, trantor.zone, *_period("2023-08-01", "2023-08-31")))}


@pytest.mark.parametrize(("start_date", "end_date"), [("0001-01-01T00:00+14:00", "2023-08-31"),
                                                      ("2023-08-01", "9999-12-31T23:59-14:00")])
async def test_instants_outside_the_years_1_to_9999_utc_are_422(trantor, start_date, end_date):
    async with client(create_app(trantor.settings)) as http:
        response = await http.get(f"/api/v1/history/{trantor.chat_id}",
                                  params={"start_date": start_date, "end_date": end_date})
    assert response.status_code == 422, response.text
    assert response.json()["parameter"] == ("start_date" if start_date.startswith("0001") else "end_date")


async def test_a_database_failure_mid_stream_ends_the_stream_without_its_end_event(trantor, monkeypatch):
    """The server's connection is terminated at the second batch's query: the client has the first
    batch, then a broken response, and no ``end`` event (so it must treat the stream as failed)."""
    calls = []
    real_page = queries.page

    async def page_then_die(conn, *args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            await conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        return await real_page(conn, *args, **kwargs)

    monkeypatch.setattr(queries, "page", page_then_die)
    app = create_app(trantor.settings.model_copy(update={"api_history_batch": 20}))
    received = ""
    with served_in_thread(app) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            with pytest.raises(httpx.RemoteProtocolError):
                async with http.stream("GET", f"/api/v1/history/{trantor.chat_id}",
                                       params={"start_date": "2023-08-01", "end_date": "2023-08-31"}) as response:
                    assert response.status_code == 200
                    async for text in response.aiter_text():
                        received += text
    found = events(received)
    assert [name for name, _ in found] == ["message"]
    assert len(found[0][1]["messages"]) == 20
