"""bench/generate_export.py writes an export the collector reads as it reads a real one.

The expected payloads come from the "old reader" path, independent of the streaming one: ``json.load``
of the whole file, then ``map_entry`` on each entry of each chat."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bench.generate_export import generate, main
from schemas import ChannelPayload
from services.collector.export import ExportReader, map_entry
from tgpipe.ops.archive import archive
from tgpipe.ops.verify import verify

UTC_ZONE = ZoneInfo("UTC")  # the generator writes zone-less dates in UTC


def _chats(data: dict[str, Any]) -> list[dict[str, Any]]:
    if "messages" in data:
        return [data]
    return data["chats"]["list"] + data.get("left_chats", {}).get("list", [])


def _newest(chats: list[dict[str, Any]]) -> datetime:
    return max(datetime.fromisoformat(e[key]).replace(tzinfo=UTC)
               for chat in chats for e in chat["messages"] for key in ("date", "edited") if key in e)


@pytest.mark.parametrize("layout, chats", [("single", 1), ("account", 3)])
def test_a_generated_export_reads_as_json_load_and_map_entry_read_it(shared_data, tmp_path, layout, chats):
    file = generate(tmp_path / "export", 600, layout=layout, chats=chats, seed=7, data_dir=shared_data)
    data = json.loads(file.read_text(encoding="utf-8"))
    raw_chats = _chats(data)
    root = file.parent
    channels = [ChannelPayload(channel_id=c["id"], type=c["type"], title=c["name"]) for c in raw_chats]
    expected = [map_entry(entry, channel, root, UTC_ZONE, _newest(raw_chats))
                for channel, c in zip(channels, raw_chats, strict=True) for entry in c["messages"]]
    reader = ExportReader(root, timezone=UTC_ZONE)
    assert list(reader.payloads()) == expected
    assert len(expected) == 600 and len(raw_chats) == chats and reader.problems == []
    assert reader.chats == channels

    entries = [e for c in raw_chats for e in c["messages"]]
    styles = Counter(type(e["from_id"]).__name__ for e in entries if "from_id" in e)
    assert styles["int"] and styles["str"]  # 2020-era and 2023+ sender ids
    assert any(isinstance(e["text"], list) for e in entries) and any("text_entities" in e for e in entries)
    assert any(e["type"] == "service" for e in entries) and any("reactions" in e for e in entries)
    assert any("edited" in e for e in entries) and any("reply_to_message_id" in e for e in entries)
    photos = [e["photo"] for e in entries if "photo" in e]
    assert photos and all((root / p).is_file() for p in photos)
    sizes = {e["photo"]: e["photo_file_size"] for e in entries if "photo" in e}
    assert all((root / p).stat().st_size == size for p, size in sizes.items())
    assert all((root / p).read_bytes()[:3] == b"\xff\xd8\xff" for p in sizes)  # JPEGs


def test_the_command_line_writes_the_same_export_for_the_same_seed(shared_data, tmp_path, capsys):
    for name in ("a", "b"):
        assert main(["--messages", "50", "--out", str(tmp_path / name), "--layout", "account", "--chats", "2",
                     "--seed", "3", "--data", str(shared_data)]) == 0
    assert "50 messages" in capsys.readouterr().out
    digest = [hashlib.sha256((tmp_path / n / "result.json").read_bytes()).hexdigest() for n in ("a", "b")]
    assert digest[0] == digest[1]
    with pytest.raises(SystemExit):
        main(["--messages", "5", "--out", str(tmp_path / "c"), "--chats", "2", "--data", str(shared_data)])


@pytest.mark.e2e
async def test_archive_of_a_generated_export_is_clean(settings, db, shared_data, tmp_path):
    export = generate(tmp_path / "export", 300, layout="account", chats=2, seed=1, data_dir=shared_data).parent
    settings = settings.model_copy(update={"export_timezone": "UTC"})
    summary = await archive(settings, export)
    assert summary.published == 300 and summary.problems == []
    assert sum(summary.expected.messages.values()) == 300 and sum(summary.expected.photos.values()) > 0
    async with db.acquire() as conn:
        report = await verify(conn, summary.expected)
        assert report.ok, report.as_dict()
        stored = await conn.fetchval("SELECT count(*) FROM media WHERE kind = 'photo' AND status = 'stored'")
        assert stored == sum(summary.expected.photos.values())
        assert await conn.fetchval("SELECT count(*) FROM messages") == 300
