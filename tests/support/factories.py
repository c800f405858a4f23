"""Builders of hand-written events and export entries for tests (each value chosen by the test that calls them)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any
from pathlib import Path

from schemas import (
    ChannelPayload,
    MediaRef,
    MessagePayload,
    MessageUpserted,
    MessageUpsertedPayload,
    RangeCompleted,
    RangeCompletedPayload,
    SenderPayload,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

#: The real exports in ../shared/data the end-to-end tests archive, with the zone of their `date`
#: (hejazizo's README: `date` is the exporter's local time, UTC+1, with no zone in the file).
EXPORTS = {"trantor-library-channel": "UTC", "hejazizo-anon-bot-chat": "Etc/GMT-1"}


def export_entry(message_id: Any, **fields: Any) -> dict[str, Any]:
    """A 2023+-format Telegram Desktop export message entry (``result.json`` ``messages[]``) of
    channel 42, dated 2024-03-01 12:00 UTC; ``fields`` override or add keys."""
    return {"id": message_id, "type": "message", "date": "2024-03-01T12:00:00", "date_unixtime": "1709294400",
            "from": "Chan", "from_id": "channel42", "text": "", **fields}


def message_event(chat_id: int, message_id: int, *, text: str = "", edited_after_s: int | None = None,
                  sender: int | None = 7, media: list[MediaRef] | None = None, title: str = "chan") -> MessageUpserted:
    """A ``message.upserted`` event; ``edited_after_s`` sets ``edit_date`` to T0 + that many seconds."""
    edit = T0 + timedelta(seconds=edited_after_s) if edited_after_s is not None else None
    return MessageUpserted(
        source="test",
        payload=MessageUpsertedPayload(
            channel=ChannelPayload(channel_id=chat_id, type="public_channel", title=title),
            message=MessagePayload(
                channel_id=chat_id, message_id=message_id, kind="message", date=T0, edit_date=edit,
                sender=SenderPayload(peer_type="user", peer_id=sender, name=f"user {sender}") if sender else None,
                text=text, raw={"id": message_id, "text": text},
                media_kind=media[0].kind if media else None,
            ),
            media=media or [],
        ),
    )


def range_marker(chat_id: int, first_id: int, last_id: int, *, first_date: datetime = T0,
                 last_date: datetime = T0, title: str | None = "chan", source: str = "export") -> RangeCompleted:
    """A ``range.completed`` marker of public channel ``chat_id``: ids ``first_id..last_id`` and dates
    ``first_date..last_date`` archived completely from ``source``."""
    return RangeCompleted(source="test", payload=RangeCompletedPayload(
        channel=ChannelPayload(channel_id=chat_id, type="public_channel", title=title), source=source,
        first_message_id=first_id, last_message_id=last_id, first_date=first_date, last_date=last_date))


def two_exports(root: Path) -> tuple[Path, Path]:
    """``(newer, older)``: two export folders of channel 9 under ``root``. Both hold post 1 (50
    reactions in the newer, 3 in the older); only the newer holds post 2, a week later, so its
    newest date (its observation time, contract O1) is later."""
    def export(name: str, reactions: int, *more: dict) -> Path:
        folder = root / name
        folder.mkdir()
        entries = [{"id": 1, "type": "message", "date": "2024-03-01T12:00:00", "date_unixtime": "1709294400",
                    "from": "C", "from_id": "channel9", "text": "post",
                    "reactions": [{"type": "emoji", "count": reactions, "emoji": "👍"}]}, *more]
        (folder / "result.json").write_text(json.dumps({"name": "c", "type": "public_channel", "id": 9,
                                                        "messages": entries}))
        return folder

    later = {"id": 2, "type": "message", "date": "2024-03-09T12:00:00", "date_unixtime": "1709985600",
             "from": "C", "from_id": "channel9", "text": "a week later"}
    return export("newer", 50, later), export("older", 3)


def corrupt_in_place(file: Path, at: bytes, byte: bytes = b"\x01") -> int:
    """Overwrite the first byte of the first ``at`` in ``file`` with ``byte`` keeping its size, inode
    and modification time (a change a reader that trusts its first read cannot see); its offset."""
    stat, data = file.stat(), file.read_bytes()
    offset = data.index(at)
    with file.open("r+b") as fh:
        fh.seek(offset)
        fh.write(byte)
    os.utime(file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    return offset
