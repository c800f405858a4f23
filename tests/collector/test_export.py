"""services.collector.export: Telegram Desktop JSON exports → MessageUpsertedPayload.

The real-export numbers come from the data folders' READMEs (counted independently of this code).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from schemas.events import ChannelPayload
from services.collector.export import ExportReader, ExportTimezoneError, flatten_text, map_entry, parse_peer
from tests.support.factories import corrupt_in_place, export_entry
from tgpipe.errors import ExportEntryError, ExportError
from tgpipe.paths import safe_resolve

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
UTC_ZONE = ZoneInfo("UTC")
PLACEHOLDER = "(File not included. Change data exporting settings to download.)"


def real_export(name: str) -> Path:
    folder = DATA / name
    if not (folder / "result.json").is_file():
        pytest.skip(f"real export {name!r} not available at {folder} (shared test data is absent)")
    return folder


def raw_messages(folder: Path) -> list[dict[str, Any]]:
    return json.loads((folder / "result.json").read_text(encoding="utf-8"))["messages"]


def write_export(tmp_path: Path, data: Any) -> Path:
    export = tmp_path / "export"
    export.mkdir(exist_ok=True)
    (export / "result.json").write_text(json.dumps(data), encoding="utf-8")
    return export


def chat(messages: list[Any], **extra: Any) -> dict[str, Any]:
    return {"name": "Test chat", "type": "public_channel", "id": 42, "messages": messages, **extra}


msg = export_entry


def read(tmp_path: Path, data: Any, tz: ZoneInfo = UTC_ZONE) -> tuple[ExportReader, list]:
    reader = ExportReader(write_export(tmp_path, data), timezone=tz)
    return reader, list(reader.payloads())


# --- real exports ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trantor() -> tuple[Path, ExportReader, list]:
    folder = real_export("trantor-library-channel")
    reader = ExportReader(folder, timezone=ZoneInfo("Asia/Shanghai"))
    return folder, reader, list(reader.payloads())


def test_trantor_counts_match_the_readme(trantor) -> None:
    _, reader, payloads = trantor
    messages = [p.message for p in payloads]
    assert len(payloads) == 924
    assert Counter(m.kind for m in messages) == {"message": 908, "service": 16}
    assert Counter(m.action for m in messages if m.kind == "service") == {
        "pin_message": 14, "create_channel": 1, "edit_group_photo": 1}
    assert sum(r.kind == "photo" for p in payloads for r in p.media) == 484
    assert sum(m.edit_date is not None for m in messages) == 880
    assert sum(m.reply_to_message_id is not None for m in messages) == 84
    assert [m.reply_to_peer for m in messages if m.reply_to_peer] == ["channel1901773654"]
    assert sum(m.reactions is not None for m in messages) == 319
    assert sum(m.post_author is not None for m in messages) == 513
    assert reader.chats == [
        ChannelPayload(channel_id=1878264527, type="public_channel", title="川陀大学图书馆")]
    assert {p.channel for p in payloads} == set(reader.chats)
    assert reader.problems == [] and reader.unsafe_paths == [] and reader.local_time_fallbacks == 0


def test_trantor_media(trantor) -> None:
    folder, _, payloads = trantor
    refs = [r for p in payloads for r in p.media]
    assert Counter(r.kind for r in refs) == {
        "photo": 484, "video_file": 12, "document": 10, "sticker": 1, "audio_file": 1}
    assert Counter(p.message.media_kind for p in payloads if p.message.media_kind) == Counter(
        r.kind for r in refs)  # no entry has both photo and file
    photos = [r for r in refs if r.kind == "photo"]
    assert len({r.path for r in photos}) == 482  # two files are shared by two messages each
    assert all(r.export_root == str(folder.resolve()) and r.unavailable is None for r in refs)
    assert all(r.file_size is not None and r.width and r.height for r in photos)  # photo_file_size on all
    assert all(safe_resolve(Path(r.export_root), r.path).is_file() for r in photos)  # 0 missing photos
    group_photo = next(p for p in payloads if p.message.action == "edit_group_photo")
    assert group_photo.message.kind == "service" and group_photo.message.media_kind == "photo"


def test_trantor_dates_senders_text_and_entities(trantor) -> None:
    folder, _, payloads = trantor
    raw = raw_messages(folder)
    assert [p.message.message_id for p in payloads] == [e["id"] for e in raw]
    for payload, entry in zip(payloads, raw, strict=True):
        m = payload.message
        assert m.raw == entry
        # `date` is the exporter's local time, UTC+8 (README); date_unixtime must win.
        assert m.date == datetime.fromisoformat(entry["date"]).replace(tzinfo=UTC) - timedelta(hours=8)
        assert m.date.tzinfo is not None and m.date.utcoffset() == timedelta(0)
        # Independent source for the flattened text: the 2023+ text_entities cover all the text.
        assert m.text == "".join(e["text"] for e in entry["text_entities"])
        assert m.entities == entry["text_entities"]
        assert m.sender is not None and (m.sender.peer_type, m.sender.peer_id) == ("channel", 1878264527)
        assert m.sender.name == "川陀大学图书馆"
    entity_types = Counter(e["type"] for p in payloads for e in p.message.entities if e["type"] != "plain")
    assert entity_types == {"hashtag": 4375, "text_link": 3337, "code": 1246, "bold": 679, "blockquote": 101,
                            "italic": 76, "link": 30, "strikethrough": 7, "pre": 6, "underline": 2,
                            "email": 1, "phone": 1, "bot_command": 1}
    assert min(p.message.date for p in payloads) == datetime(2023, 7, 17, 16, 23, 39, tzinfo=UTC)


@pytest.mark.parametrize("zone, offset", [("Europe/London", 1), ("UTC", 0), ("Asia/Tokyo", 9)])
def test_hejazizo_2020_format(zone: str, offset: int) -> None:
    folder = real_export("hejazizo-anon-bot-chat")
    reader = ExportReader(folder / "result.json", timezone=ZoneInfo(zone))
    payloads = list(reader.payloads())
    raw = raw_messages(folder)
    assert len(payloads) == 4706 and reader.problems == [] and reader.unsafe_paths == []
    assert reader.local_time_fallbacks == 4706
    assert reader.chats == [ChannelPayload(channel_id=4690332900, type="bot_chat", title="برنامه ناشناس")]
    refs = [r for p in payloads for r in p.media]
    assert Counter(r.kind for r in refs) == {"photo": 53, "animation": 15, "voice_message": 7, "sticker": 4,
                                             "video_file": 1, "document": 1}
    senders = Counter((p.message.sender.peer_type, p.message.sender.peer_id) for p in payloads)
    assert senders == {("user", 395365604): 3388, ("user", 73106435): 1318}
    assert sum(p.message.edit_date is not None for p in payloads) == 1
    assert sum(p.message.reply_to_message_id is not None for p in payloads) == 2049
    assert sum(p.message.text == "" for p in payloads) == 56
    entity_types = Counter(e["type"] for p in payloads for e in p.message.entities)
    assert entity_types == {"bot_command": 1259, "link": 46, "mention": 3, "bold": 1, "hashtag": 1}
    for payload, entry in zip(payloads, raw, strict=True):
        m = payload.message
        local = datetime.strptime(entry["date"], "%Y-%m-%dT%H:%M:%S")
        assert m.date == (local - timedelta(hours=offset)).replace(tzinfo=UTC)
        expected = entry["text"]
        if isinstance(expected, list):  # a plain loop, independent of the reader's helper
            expected = ""
            for piece in entry["text"]:
                expected += piece["text"] if isinstance(piece, dict) else piece
        assert m.text == expected
    first = payloads[0].message
    assert (first.message_id, first.text, first.sender.name) == (904763, "/start", "Ali Hejazi")


# --- hand-written variants -------------------------------------------------------------------


def test_string_and_array_text(tmp_path: Path) -> None:
    pieces = ["see ", {"type": "text_link", "text": "this", "href": "https://x.test"}, " now"]
    _, payloads = read(tmp_path, chat([msg(1, text="plain"), msg(2, text=pieces)]))
    assert [(p.message.text, p.message.entities) for p in payloads] == [
        ("plain", []), ("see this now", [{"type": "text_link", "text": "this", "href": "https://x.test"}])]


def test_text_entities_win_over_text_pieces(tmp_path: Path) -> None:
    entities = [{"type": "plain", "text": "a"}, {"type": "bold", "text": "b"}]
    entry = msg(1, text=["a", {"type": "bold", "text": "b"}], text_entities=entities)
    _, payloads = read(tmp_path, chat([entry]))
    assert payloads[0].message.text == "ab" and payloads[0].message.entities == entities


def test_nul_characters_are_replaced_and_reported(tmp_path: Path) -> None:
    reader, payloads = read(tmp_path, chat([msg(1, text="a\x00b")]))
    assert payloads[0].message.text == payloads[0].message.raw["text"] == "a\ufffdb"
    assert [(e.message_id, "text (1)" in e.reason) for e in reader.repaired] == [(1, True)]
    assert reader.problems == []


def test_service_message_with_null_actor_and_without_actor_id(tmp_path: Path) -> None:
    service = {"id": 5, "type": "service", "date": "2024-03-01T12:00:00", "date_unixtime": "1709294400",
               "actor": None, "actor_id": "user7", "action": "pin_message", "message_id": 3, "text": ""}
    no_actor = {**service, "id": 6}
    del no_actor["actor_id"]
    _, payloads = read(tmp_path, chat([service, no_actor]))
    first, second = (p.message for p in payloads)
    assert first.kind == "service" and first.action == "pin_message"
    assert (first.sender.peer_type, first.sender.peer_id, first.sender.name) == ("user", 7, None)
    assert second.sender is None


def test_service_message_photo_is_a_media_ref(tmp_path: Path) -> None:
    service = {"id": 2, "type": "service", "date_unixtime": "1709294400", "date": "x", "actor": "C",
               "actor_id": "channel42", "action": "edit_group_photo", "photo": "photos/p.jpg",
               "photo_file_size": 10, "width": 64, "height": 32}
    reader, payloads = read(tmp_path, chat([service]))
    (ref,) = payloads[0].media
    assert (ref.kind, ref.path, ref.file_size, ref.width, ref.height) == ("photo", "photos/p.jpg", 10, 64, 32)
    assert ref.export_root == str(reader.export_root) and Path(ref.export_root).is_absolute()
    assert payloads[0].message.media_kind == "photo"


@pytest.mark.parametrize("from_id, expected", [
    (123, ("user", 123)), ("user123", ("user", 123)), ("channel9", ("channel", 9)), ("chat77", ("chat", 77))])
def test_2020_and_2023_peer_ids(tmp_path: Path, from_id: Any, expected: tuple[str, int]) -> None:
    assert parse_peer(from_id) == expected
    _, payloads = read(tmp_path, chat([msg(1, from_id=from_id, **{"from": None})]))
    sender = payloads[0].message.sender
    assert (sender.peer_type, sender.peer_id, sender.name) == (*expected, None)


@pytest.mark.parametrize("bad", ["bot5", "user", "user-1", True, 1.5])
def test_unknown_peer_ids_are_rejected(bad: Any) -> None:
    with pytest.raises(ValueError):
        parse_peer(bad)


def test_2020_entry_uses_local_time_in_the_given_zone(tmp_path: Path) -> None:
    old = {"id": 1, "type": "message", "date": "2020-08-03T17:06:43", "edited": "2020-08-03T18:00:00",
           "from": "A", "from_id": 73106435, "text": ["hi ", {"type": "bot_command", "text": "/start"}]}
    new = msg(2, edited="2024-03-01T13:00:00", edited_unixtime="1709298000")
    reader, payloads = read(tmp_path, chat([old, new]), tz=ZoneInfo("Asia/Tehran"))  # +04:30 in Aug 2020
    first, second = (p.message for p in payloads)
    assert first.date == datetime(2020, 8, 3, 12, 36, 43, tzinfo=UTC)
    assert first.edit_date == datetime(2020, 8, 3, 13, 30, tzinfo=UTC)
    assert first.text == "hi /start" and first.entities == [{"type": "bot_command", "text": "/start"}]
    assert second.date == datetime(2024, 3, 1, 12, tzinfo=UTC)
    assert second.edit_date == datetime(2024, 3, 1, 13, tzinfo=UTC)
    assert reader.local_time_fallbacks == 1


def test_edit_without_edited_unixtime_counts_as_fallback(tmp_path: Path) -> None:
    entry = msg(1, edited="2024-03-01T14:00:00")
    reader, payloads = read(tmp_path, chat([entry]), tz=ZoneInfo("Europe/Paris"))
    assert payloads[0].message.edit_date == datetime(2024, 3, 1, 13, tzinfo=UTC)
    assert reader.local_time_fallbacks == 1


def test_kept_fields(tmp_path: Path) -> None:
    entry = msg(9, reply_to_message_id=3, reply_to_peer_id="channel5", forwarded_from="Someone",
                author="Ed", reactions=[{"type": "emoji", "count": 2, "emoji": "👍"}])
    _, payloads = read(tmp_path, chat([entry]))
    m = payloads[0].message
    kept = (m.reply_to_message_id, m.reply_to_peer, m.forwarded_from, m.post_author)
    assert kept == (3, "channel5", "Someone", "Ed")
    assert m.reactions == [{"type": "emoji", "count": 2, "emoji": "👍"}]
    assert m.raw == entry and m.kind == "message" and m.channel_id == 42 and m.media_kind is None


def test_full_account_layout_with_two_chats(tmp_path: Path) -> None:
    data = {"about": "…", "personal_information": {},
            "chats": {"about": "…", "list": [
                {"name": "Alice", "type": "personal_chat", "id": 111, "messages": [msg(1), msg(2)]},
                {"name": None, "type": "replies", "id": 222, "messages": [msg(1, text="other chat")]}]},
            "left_chats": {"list": [
                {"name": "Old", "type": "private_supergroup", "id": 333, "messages": [msg(7)]}]}}
    reader, payloads = read(tmp_path, data)
    assert reader.chats == [ChannelPayload(channel_id=111, type="personal_chat", title="Alice"),
                            ChannelPayload(channel_id=222, type="unknown", title=None),
                            ChannelPayload(channel_id=333, type="private_supergroup", title="Old")]
    assert [(p.channel.channel_id, p.message.channel_id, p.message.message_id) for p in payloads] == [
        (111, 111, 1), (111, 111, 2), (222, 222, 1), (333, 333, 7)]
    assert reader.problems == []  # the same message id in two chats is not a duplicate


def test_placeholder_media_is_not_included(tmp_path: Path) -> None:
    entries = [msg(1, photo=PLACEHOLDER, width=10, height=10),
               msg(2, file=PLACEHOLDER, media_type="video_file", mime_type="video/mp4"),
               msg(3, file="files/doc.pdf", mime_type="application/pdf", file_size=5)]
    reader, payloads = read(tmp_path, chat(entries))
    refs = [p.media[0] for p in payloads]
    assert [(r.kind, r.path, r.unavailable) for r in refs] == [
        ("photo", None, "not_included"), ("video_file", None, "not_included"),
        ("document", "files/doc.pdf", None)]
    assert (refs[2].mime_type, refs[2].file_size) == ("application/pdf", 5)
    assert [p.message.media_kind for p in payloads] == ["photo", "video_file", "document"]
    assert reader.unsafe_paths == []


def test_every_media_type_telegram_desktop_writes_is_its_own_kind_and_an_unknown_one_a_document(
        tmp_path: Path) -> None:
    written = ["sticker", "video_message", "voice_message", "animation", "video_file", "audio_file"]
    entries = [msg(i, file=f"files/{i}", media_type=media_type)
               for i, media_type in enumerate([*written, None, "hologram"], start=1)]
    reader, payloads = read(tmp_path, chat(entries))
    assert [p.media[0].kind for p in payloads] == [*written, "document", "document"]
    assert [p.message.media_kind for p in payloads] == [*written, "document", "document"]
    assert payloads[-1].message.raw["media_type"] == "hologram"  # what the export said stays in raw
    assert reader.problems == []


def test_a_media_type_that_is_not_a_string_is_a_bad_entry(tmp_path: Path) -> None:
    reader, payloads = read(tmp_path, chat([msg(1, file="files/a", media_type=["photo"]), msg(2)]))
    assert [p.message.message_id for p in payloads] == [2]
    assert [(e.message_id, "media_type ['photo'] is not a string" in str(e)) for e in reader.problems] == [
        (1, True)]


def test_a_chat_type_that_is_not_a_string_is_unknown(tmp_path: Path) -> None:
    reader, _ = read(tmp_path, {"name": "A", "type": ["channel"], "id": 5, "messages": [msg(1)]})
    assert reader.chats == [ChannelPayload(channel_id=5, type="unknown", title="A")]


def test_photo_comes_before_file(tmp_path: Path) -> None:
    _, payloads = read(tmp_path, chat([msg(1, file="files/a.bin", photo="photos/b.jpg")]))
    assert [r.kind for r in payloads[0].media] == ["photo", "document"]
    assert payloads[0].message.media_kind == "photo"


def test_paths_outside_the_root_are_flagged_and_reported(tmp_path: Path) -> None:
    export = tmp_path / "export"
    (export / "photos").mkdir(parents=True)
    (tmp_path / "secret.jpg").write_bytes(b"x")
    (export / "photos" / "link.jpg").symlink_to(tmp_path / "secret.jpg")
    entries = [msg(1, photo="../escape.jpg"), msg(2, file="/etc/passwd"), msg(3, photo="photos/link.jpg"),
               msg(4, photo="photos/fine.jpg")]
    reader, payloads = read(tmp_path, chat(entries))
    assert [(p.media[0].path, p.media[0].unavailable) for p in payloads] == [
        ("../escape.jpg", "outside_export_root"), ("/etc/passwd", "outside_export_root"),
        ("photos/link.jpg", "outside_export_root"), ("photos/fine.jpg", None)]
    assert [(u.chat_id, u.message_id, u.path) for u in reader.unsafe_paths] == [
        (42, 1, "../escape.jpg"), (42, 2, "/etc/passwd"), (42, 3, "photos/link.jpg")]
    assert all(u.reason for u in reader.unsafe_paths)


def test_malformed_entries_are_reported_and_skipped(tmp_path: Path) -> None:
    no_id = msg(None)
    del no_id["id"]
    no_date = msg(6)
    del no_date["date"], no_date["date_unixtime"]
    entries = [msg(1), no_id, msg("2"), msg(3, date_unixtime=None, date="2024-02-30T10:00:00"),
               msg(4, date_unixtime="soon"), msg(1, text="second copy"), "not an object", msg(5, text=7),
               no_date, msg(7, from_id="bot1"), msg(8, reply_to_message_id="x"), msg(True), msg(9)]
    reader, payloads = read(tmp_path, chat(entries))
    assert [p.message.message_id for p in payloads] == [1, 9]
    assert payloads[0].message.text == ""  # the first of the duplicates is kept
    assert [e.message_id for e in reader.problems] == [None, "2", 3, 4, 1, None, 5, 6, 7, 8, True]
    assert all(isinstance(e, ExportEntryError) and "chat 42" in e.reason for e in reader.problems)
    assert "duplicate" in reader.problems[4].reason
    assert "entry #6" in reader.problems[5].reason  # the non-object entry is located by position
    assert "'2024-02-30T10:00:00'" in reader.problems[2].reason and "date" in reader.problems[2].reason


def test_map_entry_raises_entry_errors() -> None:
    chat = ChannelPayload(channel_id=1, type="channel")
    with pytest.raises(ExportEntryError) as info:
        map_entry(msg(5, date_unixtime=None, date="nope"), chat, Path("/x"), UTC_ZONE)
    assert info.value.message_id == 5
    payload = map_entry(msg(6, photo="photos/a.jpg"), chat, Path("relative/root"), UTC_ZONE)
    assert payload.message.date == datetime(2024, 3, 1, 12, tzinfo=UTC)
    assert payload.media[0].export_root == str(Path("relative/root").resolve())


def test_payloads_can_be_iterated_again(tmp_path: Path) -> None:
    reader, first = read(tmp_path, chat([msg(1), msg(1)]))
    assert list(reader.payloads()) == first and len(reader.problems) == 1


def test_flatten_text_rejects_other_shapes() -> None:
    assert flatten_text(None) == ("", [])
    for bad in (5, {"text": "x"}, ["ok", 3], [{"type": "bold", "text": None}]):
        with pytest.raises(ValueError):
            flatten_text(bad)


# --- whole-file errors -----------------------------------------------------------------------


def test_bad_json_is_an_export_error(tmp_path: Path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    (export / "result.json").write_text('{"name": "x", "messages": [{"id": 1, ', encoding="utf-8")
    with pytest.raises(ExportError, match="not valid JSON"):
        ExportReader(export, timezone=UTC_ZONE)


def test_non_utf8_is_an_export_error(tmp_path: Path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    (export / "result.json").write_bytes(b'{"name": "\xff"}')
    with pytest.raises(ExportError):
        ExportReader(export, timezone=UTC_ZONE)


def test_missing_result_json_is_an_export_error(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="does not exist"):
        ExportReader(tmp_path, timezone=UTC_ZONE)
    with pytest.raises(ExportError):
        ExportReader(tmp_path / "nowhere" / "result.json", timezone=UTC_ZONE)


@pytest.mark.parametrize("data", [
    {"personal_information": {}, "contacts": {"list": []}},
    [1, 2, 3],
    "just a string",
    {"chats": {"about": "no list"}},
    {"chats": {"list": [{"name": "x", "type": "bot_chat", "messages": []}]}},
    {"name": "x", "type": "public_channel", "id": "42", "messages": []},
    {"name": "x", "type": "public_channel", "id": 42, "messages": {"1": {}}},
])
def test_unknown_layout_is_an_export_error(tmp_path: Path, data: Any) -> None:
    with pytest.raises(ExportError):
        ExportReader(write_export(tmp_path, data), timezone=UTC_ZONE)


def test_unknown_layout_message_names_the_expected_layouts(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"single chat .* full-account export"):
        ExportReader(write_export(tmp_path, {"contacts": {}}), timezone=UTC_ZONE)


# --- time zones and the observation time (contract O1) ------------------------------------------


def test_local_times_without_a_zone_are_refused_never_read_as_utc(tmp_path: Path) -> None:
    old = {"id": 1, "type": "message", "date": "2020-08-03T17:06:43", "from": "A", "from_id": 73106435, "text": "hi"}
    with pytest.raises(ExportTimezoneError, match=r"--timezone ZONE or TGPIPE_EXPORT_TIMEZONE=ZONE"):
        ExportReader(write_export(tmp_path, chat([msg(2), old])), timezone=None)
    with pytest.raises(ExportTimezoneError):  # a local edit date alone is enough
        ExportReader(write_export(tmp_path, chat([msg(3, edited="2024-03-01T14:00:00")])), timezone=None)
    # An export with UTC seconds everywhere needs no zone.
    _, payloads = read(tmp_path, chat([msg(4, edited="2024-03-01T14:00:00", edited_unixtime="1709301600")]), tz=None)
    assert payloads[0].message.edit_date == datetime(2024, 3, 1, 14, tzinfo=UTC)


def test_cli_refuses_the_2020_export_without_a_zone_in_one_line() -> None:
    from typer.testing import CliRunner

    from tgpipe.cli import app

    folder = real_export("hejazizo-anon-bot-chat")
    # Nothing is started or connected to: the export is refused before.
    env = {"TGPIPE_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "TGPIPE_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}
    for command in (["archive", "--export", str(folder)], ["collector", "export", str(folder)],
                    ["verify", "--export", str(folder)]):
        result = CliRunner().invoke(app, command, env=env)
        assert result.exit_code == 2, (command, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "--timezone" in lines[0] and "TGPIPE_EXPORT_TIMEZONE" in lines[0], lines


def test_observed_at_is_the_exports_newest_date_or_the_given_time(tmp_path: Path) -> None:
    folder = real_export("trantor-library-channel")
    newest = max(int(m[key]) for m in raw_messages(folder) for key in ("date_unixtime", "edited_unixtime") if key in m)
    reader = ExportReader(folder, timezone=None)
    assert {p.observed_at for p in reader.payloads()} == {datetime.fromtimestamp(newest, UTC)}
    given = datetime(2026, 1, 1, tzinfo=UTC)
    assert {p.observed_at for p in ExportReader(folder, timezone=None, observed_at=given).payloads()} == {given}
    # A full-account export is one observation: its newest date across every chat.
    data = {"chats": {"list": [chat([msg(1)], id=1), chat([msg(2, date_unixtime="1709298000")], id=2)]}}
    _, payloads = read(tmp_path, data)
    assert {p.observed_at for p in payloads} == {datetime(2024, 3, 1, 13, tzinfo=UTC)}


# --- streaming: layout in any order, positions of bad files, a file that changes ----------------


def test_chat_fields_after_the_messages_are_read(tmp_path: Path) -> None:
    data = {"messages": [msg(1), msg(2, date_unixtime="1709298000")], "about": {"x": [1, 2]},
            "id": 42, "type": "public_channel", "name": "Late"}
    reader, payloads = read(tmp_path, data)
    assert reader.chats == [ChannelPayload(channel_id=42, type="public_channel", title="Late")]
    assert [(p.channel.title, p.message.message_id) for p in payloads] == [("Late", 1), ("Late", 2)]
    assert reader.entries == 2 and reader.observed_at == datetime(2024, 3, 1, 13, tzinfo=UTC)


def _fifty(tmp_path: Path) -> Path:
    return write_export(tmp_path, chat([msg(i, text=f"message {i} 🙂") for i in range(1, 51)]))


def test_a_truncated_export_names_the_byte_offset_and_the_entry_and_nothing_is_read(tmp_path: Path) -> None:
    file = _fifty(tmp_path) / "result.json"
    data = file.read_bytes()
    cut = data.index(b'"message 31 ')
    file.write_bytes(data[:cut])
    with pytest.raises(ExportError) as info:  # the constructor reads the whole file first
        ExportReader(file.parent, timezone=UTC_ZONE)
    message = str(info.value)
    assert "not valid JSON (truncated or corrupt?)" in message and "(in chat 42, entry #30)" in message
    offset = int(re.search(r"at byte ([\d,]+)", message)[1].replace(",", ""))
    assert data.rindex(b'{"id": 31', 0, cut) <= offset <= cut


def test_a_file_corrupted_after_the_first_read_stops_the_payloads_at_that_entry(tmp_path: Path) -> None:
    export = _fifty(tmp_path)
    reader = ExportReader(export, timezone=UTC_ZONE)
    offset = corrupt_in_place(export / "result.json", b"message 31 ")
    got = []
    with pytest.raises(ExportError, match=rf"at byte {offset:,} \(in chat 42, entry #30\): Invalid control"):
        for payload in reader.payloads():
            got.append(payload.message.message_id)
    assert got == list(range(1, 31))


def test_a_file_that_changed_size_since_the_first_read_is_refused_before_any_payload(tmp_path: Path) -> None:
    export = _fifty(tmp_path)
    reader = ExportReader(export, timezone=UTC_ZONE)
    with (export / "result.json").open("ab") as fh:
        fh.write(b"\n")
    with pytest.raises(ExportError, match="changed since it was first read"):
        next(reader.payloads())


def test_a_value_larger_than_the_cap_refuses_the_export_at_its_entry(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("services.collector.export_layout.MAX_VALUE_CHARS", 10_000)
    with pytest.raises(ExportError, match=r"cannot be read at byte [\d,]+ \(in chat 42, entry #1\): a value longer "
                                          r"than 10,000 characters"):
        ExportReader(write_export(tmp_path, chat([msg(1), msg(2, text="x" * 20_000), msg(3)])), timezone=UTC_ZONE)


def test_duplicate_ids_are_found_in_any_order_and_across_gaps(tmp_path: Path) -> None:
    ids = [5, 3, 4, 9, 3, 7, 5, 8, 6, 1, 2, 9, 100, 11, 10, 12, 100, 10]
    reader, payloads = read(tmp_path, chat([msg(i) for i in ids]))
    firsts = [i for n, i in enumerate(ids) if i not in ids[:n]]
    assert [p.message.message_id for p in payloads] == firsts
    assert [e.message_id for e in reader.problems] == [3, 5, 9, 100, 10]
    assert all("duplicate message id" in e.reason for e in reader.problems)
