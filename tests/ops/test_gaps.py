"""``tgpipe collector gaps`` without Telegram: the id ranges missing in each archived chat, as a table and as JSON."""

from __future__ import annotations

import asyncio
import json

from typer.testing import CliRunner

from services.writer.persist import write_batch
from tests.support.factories import message_event
from tgpipe.cli import app


async def test_gaps_lists_the_missing_id_ranges_of_every_chat(database_url, db):
    async with db.acquire() as conn:
        await write_batch(conn, [message_event(5, i) for i in (1, 2, 5, 9)] + [message_event(6, i) for i in (1, 2)])
    env = {"TGPIPE_DATABASE_URL": database_url}

    result = await asyncio.to_thread(CliRunner().invoke, app, ["collector", "gaps", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"refetched": False, "chats": [
        {"channel_id": 5, "gaps": [[3, 4], [6, 8]], "recovered": 0, "absent": [], "missing": 5},
        {"channel_id": 6, "gaps": [], "recovered": 0, "absent": [], "missing": 0}]}

    table = await asyncio.to_thread(CliRunner().invoke, app, ["collector", "gaps", "-c", "5"], env=env)
    assert table.exit_code == 0, table.output
    assert "│ 5       │ 5           │ 3-4, 6-8 │" in table.output, table.output
