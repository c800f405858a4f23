"""``tgpipe collector gaps`` without Telegram: the id ranges missing in each archived chat, as a table and as JSON."""

from __future__ import annotations

import asyncio
import json

from typer.testing import CliRunner

from services.writer.persist import write_batch
from datetime import timedelta

from tests.support.factories import T0, message_event, range_marker
from tgpipe.cli import app


async def test_gaps_lists_the_missing_id_ranges_of_every_chat(database_url, db):
    async with db.acquire() as conn:
        await write_batch(conn, [message_event(5, i) for i in (1, 2, 5, 9)] + [message_event(6, i) for i in (1, 2)])
        await write_batch(conn, [range_marker(5, 1, 2), range_marker(5, 5, 9, first_date=T0 + timedelta(days=2),
                                                                     last_date=T0 + timedelta(days=3))])
    env = {"TGPIPE_DATABASE_URL": database_url}

    result = await asyncio.to_thread(CliRunner().invoke, app, ["collector", "gaps", "--json"], env=env)
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    recorded = [r.pop("recorded_at") for r in found["coverage"][0]["ranges"]]
    assert len(recorded) == 2
    day = [(T0 + timedelta(days=n)).isoformat() for n in range(4)]
    assert found == {"refetched": False, "chats": [
        {"channel_id": 5, "gaps": [[3, 4], [6, 8]], "recovered": 0, "absent": [], "missing": 5},
        {"channel_id": 6, "gaps": [], "recovered": 0, "absent": [], "missing": 0}], "coverage": [
        {"channel_id": 5, "ids": [[1, 2], [5, 9]], "dates": [[day[0], day[0]], [day[2], day[3]]],
         "id_holes": [[3, 4]], "date_holes": [[day[0], day[2]]], "ranges": [
             {"first_id": 1, "last_id": 2, "first_date": day[0], "last_date": day[0], "source": "export"},
             {"first_id": 5, "last_id": 9, "first_date": day[2], "last_date": day[3], "source": "export"}]},
        {"channel_id": 6, "ids": [], "dates": [], "id_holes": [], "date_holes": [], "ranges": []}]}

    table = await asyncio.to_thread(CliRunner().invoke, app, ["collector", "gaps", "-c", "5"], env=env)
    assert table.exit_code == 0, table.output
    assert "│ 5       │ 5           │ 3-4, 6-8 │" in table.output, table.output
    assert "│ 5       │ 1-2, 5-9    │ 3-4      │" in table.output, table.output
