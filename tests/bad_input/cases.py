"""The bad-input corpus, as data: every case has an id and its expected outcome.

Three kinds:

* :data:`FILE_CASES`: a whole ``result.json`` (or its absence) that cannot be read as an export:
  ``archive`` refuses it with an :class:`~tgpipe.errors.ExportError` whose message matches
  ``error`` and publishes nothing; ``error=None`` means the file is read after all.
* :data:`ENTRY_CASES`: one bad message entry, or one bad chat, in an otherwise good chat. All of
  them go into **one** full-account export (chat ``CHAT_BASE + index`` per case) that is archived
  once through the real pipeline. Every case chat also holds message 1 (``"good before"``) and
  message 3 (``"good after"``), which must always land. ``outcome`` says what happens to the bad
  record (message 2 unless the case says otherwise):

  - ``skipped``: not archived; one problem names the chat and the record and matches ``reason``;
  - ``repaired``: archived with the unstorable parts replaced (``text`` is the stored text); one
    problem says what was replaced;
  - ``kept``: archived as is (``media`` is the expected status of its media row; ``reason``,
    when set, matches the one problem reported about it, e.g. a refused media path);
  - ``refused``: not published (too large for a Kafka record, or a text longer than
    ``TGPIPE_MAX_TEXT_CHARS``); one problem says so, and verify reports the chat's count mismatch;
  - ``chat_skipped``: the whole chat is malformed and skipped; the other chats are archived.
* :data:`TOPIC_CASES`: a record that another producer put on the messages topic. A running
  writer dead-letters it alone (``error_class``, ``message`` matched against the dead letter's
  headers) while the good records on both sides of it, same partition, are written.

Media paths are built against a :class:`Layout`: an export root with files of every kind, and an
``outside`` folder beside it holding ``secret.jpg`` (bytes that *would* be stored as a photo if
anything ever read them).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from schemas import CommittedPayload, MediaRef, MessageCommitted, encode_event
from tests.support.factories import export_entry, message_event

CHAT_BASE = 7000
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
SECRET = b"\xff\xd8\xff\xe0 SECRET outside the export root " + os.urandom(64)


@dataclass(frozen=True)
class Layout:
    """An export root with media files of every kind, and a secret beside it (never to be read)."""

    root: Path
    outside: Path

    @property
    def secret(self) -> Path:
        return self.outside / "secret.jpg"

    @classmethod
    def create(cls, base: Path) -> Layout:
        layout = cls(base / "export", base / "outside")
        photos = layout.root / "photos"
        photos.mkdir(parents=True)
        layout.outside.mkdir()
        layout.secret.write_bytes(SECRET)
        (photos / "good.jpg").write_bytes(JPEG)
        (photos / "text.jpg").write_bytes(b"hello, I am plain text pretending to be a photo\n")
        (photos / "page.jpg").write_bytes(b"<!DOCTYPE html><html><body>404 Not Found</body></html>")
        (photos / "doc.jpg").write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        (photos / "empty.jpg").write_bytes(b"")
        (photos / "png.jpg").write_bytes(PNG)
        (photos / "folder.jpg").mkdir()
        (photos / "alias.jpg").symlink_to(photos / "good.jpg")
        (photos / "escape.jpg").symlink_to(layout.secret)
        (layout.root / "linkdir").symlink_to(layout.outside, target_is_directory=True)
        return layout


def secret_sha256() -> str:
    return hashlib.sha256(SECRET).hexdigest()


def msg(message_id: Any = 2, **fields: Any) -> dict[str, Any]:
    """A 2023+-format message entry of the case's chat (override or delete fields as needed)."""
    return export_entry(message_id, **{"from": "Case Sender", "from_id": "user99", "text": "bad or odd", **fields})


def without(entry: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k not in keys}


# --------------------------------------------------------------------------- whole files


@dataclass(frozen=True)
class FileCase:
    id: str
    write: Callable[[Path], None]  # writes the export folder's content
    error: str | None  # regex of the ExportError message; None: the file is read


def _json_file(data: Any) -> Callable[[Path], None]:
    return lambda root: (root / "result.json").write_text(json.dumps(data), encoding="utf-8")


def _bytes_file(data: bytes) -> Callable[[Path], None]:
    return lambda root: (root / "result.json").write_bytes(data)


_GOOD_CHAT = {"name": "Fine", "type": "public_channel", "id": 1, "messages": [msg(1)]}
_GOOD_BYTES = json.dumps(_GOOD_CHAT).encode()

FILE_CASES = [
    FileCase("malformed-json", _bytes_file(b'{"name": "x", "type": "channel" "id": 1, "messages": []}'),
             r"not valid JSON .*Expecting ','"),
    FileCase("truncated-file", _bytes_file(_GOOD_BYTES[: len(_GOOD_BYTES) * 2 // 3]),
             r"not valid JSON \(truncated"),
    FileCase("empty-file", _bytes_file(b""), r"not valid JSON"),
    FileCase("not-utf8", _bytes_file(b'{"name": "\xff\xfe", "messages": []}'), r"not valid JSON"),
    FileCase("trailing-garbage", _bytes_file(_GOOD_BYTES + b"\n}{"), r"not valid JSON .*Extra data"),
    FileCase("deeply-nested", _bytes_file(b'{"messages": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"),
             r"nested too deeply"),
    FileCase("no-result-json", lambda root: None, r"no Telegram export at .*result.json does not exist"),
    FileCase("result-json-is-a-folder", lambda root: (root / "result.json").mkdir(),
             r"cannot read .*result.json"),
    FileCase("top-level-array", _json_file([_GOOD_CHAT]), r"not a Telegram Desktop JSON export.*found list"),
    FileCase("top-level-string", _json_file("result"), r"not a Telegram Desktop JSON export.*found str"),
    FileCase("other-export-section", _json_file({"contacts": {"list": []}}),
             r"expected a single chat .*found \['contacts'\]"),
    FileCase("messages-not-a-list", _json_file({**_GOOD_CHAT, "messages": {"1": msg(1)}}),
             r"has no messages list"),
    FileCase("chat-id-a-string", _json_file({**_GOOD_CHAT, "id": "1"}), r"has no integer id \(got '1'\)"),
    FileCase("chat-id-missing", _json_file(without(_GOOD_CHAT, "id")), r"has no integer id \(got None\)"),
    FileCase("chat-name-not-a-string", _json_file({**_GOOD_CHAT, "name": ["x"]}), r"non-string name \['x'\]"),
    FileCase("chats-list-missing", _json_file({"chats": {"about": "…"}}), r"chats.list is missing"),
    FileCase("every-chat-malformed", _json_file({"chats": {"list": [{"id": 5}, "x"]}}),
             r"chats.list\[0\] \(id 5\) has no messages list: chat skipped; "
             r"chats.list\[1\] is not an object"),
    FileCase("utf8-bom-is-read", _bytes_file(b"\xef\xbb\xbf" + _GOOD_BYTES), None),
]

# --------------------------------------------------------------------------- entries and chats

Outcome = Literal["skipped", "repaired", "kept", "refused", "chat_skipped"]
TEN_MB = 10 * 1024 * 1024
SEVENTEEN_MB = 17 * 1024 * 1024
#: 4,096 characters (code points; 4,097 UTF-16 units), TGPIPE_MAX_TEXT_CHARS's default.
AT_THE_LIMIT = "y" * 4095 + "\U0001f600"


@dataclass(frozen=True)
class EntryCase:
    id: str
    bad: Callable[[Layout], list[Any]]  # entries between message 1 and message 3
    outcome: Outcome
    reason: str | None = None  # regex of the one problem reported about the record
    reported_id: Any = 2  # the record's id as the report names it
    text: str | None = None  # stored text of message 2 (repaired / kept)
    media: str | None = None  # status of message 2's media row
    chat: dict[str, Any] = field(default_factory=dict)  # overrides of the chat object


def entry(case_id: str, bad: dict[str, Any] | Callable[[Layout], dict[str, Any]] | Any, outcome: Outcome,
          reason: str | None = None, **expected: Any) -> EntryCase:
    """A case with one bad entry (a value, or a function of the layout for media paths)."""
    build = bad if callable(bad) else (lambda _layout, value=bad: value)
    return EntryCase(case_id, lambda layout: [build(layout)], outcome, reason, **expected)


def photo(path: str | Callable[[Layout], str]) -> Callable[[Layout], dict[str, Any]]:
    """An entry whose ``photo`` is ``path`` (``{outside}``/``{root}`` filled from the layout)."""
    def build(layout: Layout) -> dict[str, Any]:
        return msg(photo=path.format(outside=layout.outside, root=layout.root), photo_file_size=3, width=4,
                   height=4)
    return build


def escaping(case_id: str, bad: Any, why: str) -> EntryCase:
    """A message kept with a media path refused for ``why``: reported, its media row says so, never read."""
    return entry(case_id, bad, "kept", rf"media path .* refused: .*{why}", media="outside_export_root")


ENTRY_CASES = [
    # ids
    entry("entry-not-an-object", "just a string", "skipped", r"entry is a str, not an object.*entry #1",
          reported_id=None),
    entry("entry-is-a-list", [1, 2], "skipped", r"entry is a list", reported_id=None),
    entry("id-missing", without(msg(), "id"), "skipped", r"id is missing or not an integer",
          reported_id=None),
    entry("id-null", msg(None), "skipped", r"id is missing or not an integer", reported_id=None),
    entry("id-a-string", msg("2"), "skipped", r"id is missing or not an integer", reported_id="2"),
    entry("id-a-float", msg(2.5), "skipped", r"id is missing or not an integer", reported_id=2.5),
    entry("id-a-bool", msg(True), "skipped", r"id is missing or not an integer", reported_id=True),
    entry("id-beyond-bigint", msg(2**64), "skipped", r"invalid message_id: .*less than or equal to",
          reported_id=2**64),
    entry("id-duplicate", msg(1, text="second copy of 1"), "skipped",
          r"duplicate message id, first entry kept",
          reported_id=1),
    entry("id-nan", msg(float("nan")), "skipped", r"id is missing or not an integer", reported_id=None),
    # dates
    entry("date-missing", without(msg(), "date", "date_unixtime"), "skipped", r"no date / date_unixtime"),
    entry("date-impossible", msg(date="2024-02-30T10:00:00", date_unixtime=None), "skipped",
          r"date '2024-02-30T10:00:00' is not a usable date"),
    entry("date-not-a-date", msg(date="yesterday", date_unixtime=None), "skipped",
          r"date 'yesterday' is not a usable"),
    entry("date-a-number", msg(date=20240301, date_unixtime=None), "skipped",
          r"date 20240301 is not a usable date"),
    entry("date-unixtime-words", msg(date_unixtime="soon"), "skipped",
          r"date_unixtime 'soon' is not a usable date"),
    entry("date-unixtime-year-3-billion", msg(date_unixtime="99999999999999999"), "skipped",
          r"date_unixtime '99999999999999999' is not a usable date"),
    entry("date-unixtime-a-bool", msg(date_unixtime=True), "skipped",
          r"date_unixtime True is not a usable date"),
    entry("edited-impossible", msg(edited="2024-13-01T00:00:00"), "skipped", r"edited '2024-13-01T00:00:00'"),
    entry("date-year-1-is-kept", msg(date="0001-01-01T00:00:00", date_unixtime=None), "kept",
          text="bad or odd"),
    # text and fields of the wrong shape
    entry("text-a-number", msg(text=7), "skipped", r"text is a int, not a string or list"),
    entry("text-piece-a-number", msg(text=["ok", 3]), "skipped", r"text piece 3 is not a string"),
    entry("text-entities-not-a-list", msg(text_entities="bold"), "skipped",
          r"invalid entities: Input should be a valid list"),
    entry("from-id-unknown", msg(from_id="bot12"), "skipped", r"unrecognised peer id 'bot12'"),
    entry("reply-to-not-an-id", msg(reply_to_message_id="x"), "skipped", r"invalid reply_to_message_id"),
    entry("photo-width-beyond-integer", msg(photo="photos/good.jpg", width=2**40), "skipped",
          r"invalid width: .*less than or equal to 2147483647"),
    entry("photo-path-not-a-string", msg(photo=5), "skipped", r"photo 5 is not a string"),
    # characters PostgreSQL or UTF-8 cannot hold: repaired and kept
    entry("nul-in-text", msg(text="a\x00b"), "repaired", r"U\+FFFD.* in text \(1\) .*; message kept",
          text="a\ufffdb"),
    entry("nul-in-text-entities", msg(text="ab", text_entities=[{"type": "bold", "text": "a\x00b"}]),
          "repaired",
          r"in text_entities \(1\)", text="ab"),
    entry("nul-in-sender-name", msg(**{"from": "Ev\x00e"}), "repaired", r"in from \(1\)", text="bad or odd"),
    entry("nul-in-a-raw-only-field", msg(via_bot="@b\x00t"), "repaired", r"in via_bot \(1\)",
          text="bad or odd"),
    entry("lone-high-surrogate-in-text", msg(text="x\ud800y"), "repaired", r"in text \(1\)", text="x\ufffdy"),
    entry("lone-low-surrogate-in-text-piece", msg(text=["a", {"type": "bold", "text": "\udc00"}]), "repaired",
          r"in text \(1\)", text="a\ufffd"),
    entry("lone-surrogate-in-a-key", msg(**{"k\ud83d": 1}), "repaired", r"in k\ufffd \(1\)",
          text="bad or odd"),
    entry("nan-in-reactions", msg(reactions=[{"type": "emoji", "count": float("nan"), "emoji": "x"}]),
          "repaired",
          r"in reactions \(1\)", text="bad or odd"),
    entry("nul-and-surrogates-everywhere", msg(text="\x00\udfff\ud800", author="\x00"), "repaired",
          r"in text \(3\), author \(1\)", text="\ufffd" * 3),
    entry("emoji-surrogate-pair-is-kept", msg(text="\U0001f600 ok"), "kept", text="\U0001f600 ok"),
    # sizes
    entry("text-10-mb", msg(text="x" * TEN_MB), "refused",
          r"its text is 10,485,760 characters long, over the limit of 4,096 \(TGPIPE_MAX_TEXT_CHARS\); "
          r"not published"),
    entry("text-at-the-limit-is-kept", msg(text=AT_THE_LIMIT), "kept", text=AT_THE_LIMIT),
    # media paths (nothing outside the root is ever opened) and media bytes
    escaping("photo-dotdot", photo("../outside/secret.jpg"), "climbs above"),
    escaping("photo-dotdot-inside-path", photo("photos/../../outside/secret.jpg"), "climbs above"),
    escaping("photo-backslash-dotdot", photo("..\\outside\\secret.jpg"), "climbs above"),
    escaping("photo-absolute", photo("{outside}/secret.jpg"), "is absolute"),
    escaping("photo-absolute-into-the-root", photo("{root}/photos/good.jpg"), "is absolute"),
    escaping("photo-windows-drive", photo("C:\\outside\\secret.jpg"), "is absolute"),
    escaping("photo-symlink-escaping", photo("photos/escape.jpg"), "outside the export root"),
    escaping("photo-symlinked-folder-escaping", photo("linkdir/secret.jpg"), "outside the export root"),
    escaping("file-absolute-etc-passwd", msg(file="/etc/passwd", media_type="document"), "is absolute"),
    entry("photo-nul-in-path", photo("photos/good.jpg\x00.png"), "repaired", r"in photo \(1\)",
          media="missing"),
    entry("photo-symlink-inside-root", photo("photos/alias.jpg"), "kept", media="stored"),
    entry("photo-text-named-jpg", photo("photos/text.jpg"), "kept", media="not_image"),
    entry("photo-html-named-jpg", photo("photos/page.jpg"), "kept", media="not_image"),
    entry("photo-pdf-named-jpg", photo("photos/doc.jpg"), "kept", media="not_image"),
    entry("photo-empty-file", photo("photos/empty.jpg"), "kept", media="not_image"),
    entry("photo-png-named-jpg-is-an-image", photo("photos/png.jpg"), "kept", media="stored"),
    entry("photo-is-a-folder", photo("photos/folder.jpg"), "kept", media="not_regular_file"),
    entry("photo-missing-file", photo("photos/nowhere.jpg"), "kept", media="missing"),
    # whole chats of a full-account export
    EntryCase("chat-id-not-an-integer", lambda _: [], "chat_skipped",
              r"has no integer id \(got 'x'\): chat skipped",
              reported_id=None, chat={"id": "x"}),
    EntryCase("chat-messages-not-a-list", lambda _: [], "chat_skipped", r"has no messages list: chat skipped",
              reported_id=None, chat={"messages": "none"}),
    EntryCase("nul-in-chat-name", lambda _: [], "repaired", r"1 character\(s\) of its name replaced",
              reported_id=None,
              chat={"name": "Chat\x00name"}),
    # contract caps (E9): one media item per kind, a text within TGPIPE_MAX_TEXT_CHARS
    entry("media-kind-twice", msg(photo="photos/good.jpg", file="photos/png.jpg", media_type="photo"), "skipped",
          r"invalid media: .*media kind 'photo' listed more than once"),
    entry("text-one-over-the-limit", msg(text="z" * 4097), "refused",
          r"its text is 4,097 characters long, over the limit of 4,096"),
    entry("event-17-mb", msg(note="n" * SEVENTEEN_MB), "refused",
          r"its event is [\d,]+ bytes, over the [\d,]+-byte limit"),
]


def chat_id(index: int) -> int:
    return CHAT_BASE + index


def case_chat(index: int, case: EntryCase, layout: Layout) -> dict[str, Any]:
    """The chat object of ``case``: message 1, the bad entries, message 3, then the case's overrides."""
    messages = [msg(1, text="good before"), *case.bad(layout), msg(3, text="good after")]
    return {"name": f"case {case.id}", "type": "public_channel", "id": chat_id(index), "messages": messages,
            **case.chat}


def write_full_account_export(layout: Layout, cases: list[EntryCase]) -> None:
    """One full-account export holding one chat per case, written as Telegram Desktop would (UTF-8).

    ``json.dumps`` escapes NUL and lone surrogates (``\\u0000``, ``\\ud800``) the way a corrupt
    export would carry them, and writes ``NaN`` for a NaN, which Python's reader accepts.
    """
    data = {"about": "bad input corpus", "chats": {"about": "", "list": [
        case_chat(i, case, layout) for i, case in enumerate(cases)]}}
    (layout.root / "result.json").write_text(json.dumps(data), encoding="utf-8")


# --------------------------------------------------------------------------- records on the topic


@dataclass(frozen=True)
class TopicCase:
    id: str
    value: Callable[[int], bytes]  # the record's value, given the case's chat id
    error_class: str
    message: str  # regex of the dead letter's tgpipe-error-message header


def good_value(chat: int, message_id: int) -> bytes:
    return encode_event(message_event(chat, message_id, text=f"good {message_id}", sender=chat))


def _edited(mutate: Callable[[dict[str, Any]], None]) -> Callable[[int], bytes]:
    """A valid event of the case's chat (message 2), changed by ``mutate`` before encoding by hand."""
    def build(chat: int) -> bytes:
        event = json.loads(good_value(chat, 2))
        mutate(event)
        return json.dumps(event, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return build


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(event: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = event
        for key in parents:
            target = target[key]
        target[last] = value
    return mutate


def _raw(text: str) -> Callable[[int], bytes]:
    """A valid event of the chat whose JSON text has ``"text":"good 2"`` replaced by ``text`` verbatim."""
    return lambda chat: good_value(chat, 2).replace(b'"text":"good 2"', text.encode(), 1)


def _committed(chat: int) -> bytes:
    return encode_event(MessageCommitted(source="t", payload=CommittedPayload(
        channel_id=chat, message_id=2, causation_id=uuid.uuid4())))


NOT_JSON, SCHEMA = "UndecodableEventError", "EventSchemaError"
TOPIC_CASES = [
    TopicCase("not-json", lambda _: b"\x00\x01 not json", NOT_JSON, r"^not JSON"),
    TopicCase("not-utf8", lambda _: b'{"type": "message.upserted", "source": "\xff\xfe"}', NOT_JSON,
              r"^not JSON"),
    TopicCase("empty-value", lambda _: b"", NOT_JSON, r"^not JSON"),
    TopicCase("truncated-record", lambda chat: good_value(chat, 2)[:200], NOT_JSON, r"^not JSON"),
    TopicCase("lone-surrogate-escape", _raw('"text":"x\\ud800y"'), NOT_JSON, r"^not JSON.*escape"),
    TopicCase("nested-too-deeply", lambda _: b"[" * 100_000 + b"]" * 100_000, NOT_JSON,
              r"^not JSON.*recursion"),
    TopicCase("json-array", lambda _: b"[1, 2]", SCHEMA, r"."),
    TopicCase("no-event-type", lambda _: b"{}", SCHEMA, r"record has no event type"),
    TopicCase("unknown-event-type", _edited(_set("type", "message.exploded")), SCHEMA,
              r"unknown event type 'message.exploded'"),
    TopicCase("unknown-schema-version", _edited(_set("schema_version", 99)), SCHEMA,
              r"unsupported schema_version 99 \(this build reads 1\)"),
    TopicCase("schema-version-a-string", _edited(_set("schema_version", "1")), SCHEMA,
              r"unsupported schema_version '1'"),
    TopicCase("payload-missing", _edited(lambda e: e.pop("payload")), SCHEMA,
              r"invalid message\.upserted\.payload: Field required"),
    TopicCase("message-id-a-word", _edited(_set("payload.message.message_id", "abc")), SCHEMA,
              r"invalid message\.upserted\.payload.message.message_id"),
    TopicCase("message-id-beyond-bigint", _edited(_set("payload.message.message_id", 2**64)), SCHEMA,
              r"invalid message\.upserted\.payload.message.message_id: "
              r".*less than or equal to 9223372036854775807"),
    TopicCase("width-beyond-integer", _edited(_set("payload.media", [
        MediaRef(kind="photo", path="p.jpg", export_root="/x").model_dump() | {"width": 2**31}])), SCHEMA,
        r"invalid message\.upserted\.payload.media.0.width"),
    TopicCase("unknown-field", _edited(_set("payload.message.colour", "red")), SCHEMA,
              r"invalid message\.upserted\.payload.message.colour: Extra inputs are not permitted"),
    TopicCase("date-without-zone", _edited(_set("payload.message.date", "2024-05-01T12:00:00")), SCHEMA,
              r"invalid message\.upserted\.payload.message.date: Input should have timezone info"),
    TopicCase("event-of-another-topic", _committed, SCHEMA,
              r"event type 'message.committed' does not belong on topic"),
    # Valid events that PostgreSQL refuses: the batch is split, only this record is dead-lettered.
    TopicCase("nul-in-text", _edited(_set("payload.message.text", "a\x00b")), "CharacterNotInRepertoireError",
              re.escape('invalid byte sequence for encoding "UTF8": 0x00')),
    TopicCase("nul-in-raw-jsonb", _edited(_set("payload.message.raw", {"text": "a\x00b"})),
              "UntranslatableCharacterError", r"unsupported Unicode escape sequence"),
    # (a sender of its own: batch-mates' names for the same sender could win over this one)
    TopicCase("nul-in-sender-name", _edited(_set("payload.message.sender", {
        "peer_type": "user", "peer_id": 1, "name": "\x00"})), "CharacterNotInRepertoireError", r"0x00"),
    # contract caps (E9)
    TopicCase("media-kind-twice", _edited(_set("payload.media", [
        MediaRef(kind="photo", path="a.jpg", export_root="/x").model_dump(),
        MediaRef(kind="photo", path="b.jpg", export_root="/x").model_dump()])), SCHEMA,
        r"invalid message\.upserted\.payload\.media: Value error, media kind 'photo' listed more than once"),
    TopicCase("text-5-mb", _edited(_set("payload.message.text", "x" * 5_000_000)), SCHEMA,
              r"invalid message\.upserted\.payload\.message\.text: Value error, text is 5,000,000 characters "
              r"long, over the limit of 4,096"),
]
