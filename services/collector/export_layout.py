"""The layouts of a Telegram Desktop ``result.json``, walked as a stream (:mod:`services.collector.jsonstream`).

* single chat: top-level ``name``, ``type``, ``id``, ``messages``;
* full account: ``chats.list`` and ``left_chats.list``, lists of chat objects with ``name``,
  ``type``, ``id``, ``messages``; every other section (contacts, sessions, …) is skipped.

A walk yields every message entry of every chat in file order, each decoded whole by the ``json``
module (so exactly as ``json.load`` reads it) and then dropped: memory holds one entry, never the
file. With each entry it says whether its text may hold what :func:`~services.collector.scrub.scrub`
replaces (:meth:`~services.collector.jsonstream.JsonStream.value_flagged`), so that the others skip
it. Keys may come in any order (Telegram Desktop writes ``name``, ``type`` and ``id`` before
``messages``, but nothing here relies on it), so a chat is known only once a walk has passed it:
:class:`~services.collector.export.ExportReader` walks twice (a survey, then the payloads).
Where ``json.load`` keeps the last of a repeated key, a walk does too for a chat's fields, but reads
the entries of every ``messages`` list of a chat.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemas.events import ChannelPayload
from schemas.vocabulary import ChatType
from services.collector.jsonstream import JsonStream, JsonStreamError
from services.collector.scrub import scrub
from tgpipe.errors import ExportError

#: The longest single JSON value read whole (a message entry, a chat's name, one member of a skipped
#: section), in characters of JSON text: twice the largest Kafka record, and thousands of times the
#: largest entry Telegram Desktop writes (a text is at most 4,096 characters). A longer one refuses
#: the export at its position: it cannot be stepped over without reading it into memory.
MAX_VALUE_CHARS = 32 * 1024 * 1024
_SECTIONS = ("chats", "left_chats")
_CHAT_FIELDS = ("name", "type", "id")
_CHAT_TYPES = {chat_type.value: chat_type for chat_type in ChatType}


@dataclass(eq=False)
class FoundChat:
    """One chat object as a walk found it.

    Attributes:
        ordinal: 0 for the top-level chat of a single-chat export; 1, 2, … for the chat objects of
            ``chats.list``/``left_chats.list`` in file order (the same in every walk of a file).
        where: ``"the exported chat"`` or ``"chats.list[3]"`` (for the reports).
        fields: ``name``, ``type``, ``id`` as found (the last of a repeated key).
        is_object: false when the chat is not a JSON object.
        messages: the type name of its (last) ``messages`` value; ``None`` when it has none.
        entries: message entries walked so far (every element of every ``messages`` list).
    """

    ordinal: int
    where: str
    section: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    is_object: bool = True
    messages: str | None = None
    entries: int = 0

    def label(self) -> str:
        """``chat <id>`` when it has an integer id, else :attr:`where`."""
        chat_id = self.fields.get("id")
        return f"chat {chat_id}" if isinstance(chat_id, int) and not isinstance(chat_id, bool) else self.where


@dataclass(frozen=True)
class FileIdentity:
    """What tells one state of a file from another: ``os.stat`` size, modification time (ns), inode."""

    size: int
    mtime_ns: int
    inode: int


class ExportWalk:
    """One walk of ``result.json`` (:meth:`entries`), and what it found around the entries."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.top = "dict"  # type name of the document
        self.keys: list[str] = []  # top-level keys, in file order
        self.single = FoundChat(0, "the exported chat")
        self.sections: dict[str, list[FoundChat]] = {}
        self.bad_sections: set[str] = set()  # not an object, or its `list` missing or not a list
        self.identity: FileIdentity | None = None
        self._current: tuple[FoundChat, int] | None = None  # the entry being read
        self._stream: JsonStream

    def entries(self, expect: FileIdentity | None = None) -> Iterator[tuple[FoundChat, int, Any, bool]]:
        """Open the file and yield ``(chat, index in its messages, entry, may need scrub)`` for every
        message entry of every chat, in file order, entries decoded as ``json.load`` would; the flag
        is false when the entry's text cannot hold anything :func:`~services.collector.scrub.scrub`
        would change.

        Args:
            expect: the identity the file had when first read; a file that changed since is refused.

        Raises:
            ExportError: the file is missing, unreadable, changed, not JSON (truncated or corrupt:
                the message names the byte offset, and the chat and entry index when inside one),
                or holds a value over :data:`MAX_VALUE_CHARS` or nested too deeply.
        """
        try:
            fh = self.file.open("rb")
        except FileNotFoundError:
            raise ExportError(f"no Telegram export at {self.file.parent}: {self.file} does not exist") from None
        except OSError as exc:
            raise ExportError(f"cannot read {self.file}: {exc}") from None
        with fh:
            stat = os.fstat(fh.fileno())
            self.identity = FileIdentity(stat.st_size, stat.st_mtime_ns, stat.st_ino)
            if expect is not None and self.identity != expect:
                raise ExportError(f"{self.file} changed since it was first read: read it again")
            self._stream = JsonStream(fh, max_value_chars=MAX_VALUE_CHARS)
            try:
                yield from self._document()
            except JsonStreamError as exc:
                raise self._error(exc) from None
            except OSError as exc:
                raise ExportError(f"cannot read {self.file}: {exc}") from None

    def _error(self, exc: JsonStreamError) -> ExportError:
        where = ""
        if self._current is not None:
            chat, index = self._current
            where = f" (in {chat.label()}, entry #{index})"
        if exc.malformed:
            return ExportError(f"{self.file} is not valid JSON (truncated or corrupt?) at byte {exc.offset:,}{where}: "
                               f"{exc.reason}")
        return ExportError(f"{self.file} cannot be read at byte {exc.offset:,}{where}: {exc.reason}")

    def _document(self) -> Iterator[tuple[FoundChat, int, Any, bool]]:
        stream = self._stream
        if stream.peek() != "{":
            if stream.peek() == "[":
                self.top = "list"
                stream.skip()
            else:
                self.top = type(stream.value()).__name__
            stream.end()
            return
        for key in stream.members():
            if len(self.keys) < 1000 or key in ("messages", *_SECTIONS):  # enough to name the layout
                self.keys.append(key)
            if key == "messages":
                yield from self._messages(self.single)
            elif key in _CHAT_FIELDS:
                self.single.fields[key] = stream.value()
            elif key in _SECTIONS:
                yield from self._section(key)
            else:
                stream.skip()
        stream.end()

    def _section(self, name: str) -> Iterator[tuple[FoundChat, int, Any, bool]]:
        stream, chats = self._stream, self.sections.setdefault(name, [])
        if stream.peek() != "{":
            self.bad_sections.add(name)
            stream.skip()
            return
        listed = False
        for key in stream.members():
            if key != "list" or stream.peek() != "[":
                self.bad_sections.update([name] if key == "list" else [])
                stream.skip()
                continue
            listed = True
            for _ in stream.elements():
                chat = FoundChat(1 + sum(map(len, self.sections.values())), f"{name}.list[{len(chats)}]", name)
                chats.append(chat)
                yield from self._chat(chat)
        if not listed:
            self.bad_sections.add(name)

    def _chat(self, chat: FoundChat) -> Iterator[tuple[FoundChat, int, Any, bool]]:
        stream = self._stream
        if stream.peek() != "{":
            chat.is_object = False
            stream.skip()
            return
        for key in stream.members():
            if key == "messages":
                yield from self._messages(chat)
            elif key in _CHAT_FIELDS:
                chat.fields[key] = stream.value()
            else:
                stream.skip()

    def _messages(self, chat: FoundChat) -> Iterator[tuple[FoundChat, int, Any, bool]]:
        stream = self._stream
        if stream.peek() != "[":
            chat.messages = "dict" if stream.peek() == "{" else "other"
            stream.skip()
            return
        chat.messages = "list"
        for _ in stream.elements():
            index = chat.entries
            self._current = (chat, index)
            entry, suspect = stream.value_flagged()
            chat.entries += 1
            yield chat, index, entry, suspect
        self._current = None

    def counts(self) -> dict[int, int]:
        """Entries walked per chat ordinal."""
        return {chat.ordinal: chat.entries for chat in [self.single, *self.chats()]}

    def chats(self) -> list[FoundChat]:
        """The chat objects of the full-account sections, ``chats`` first, then ``left_chats``."""
        return [chat for name in _SECTIONS for chat in self.sections.get(name, [])]

    def layout(self, problems: list[ExportError], repaired: list[ExportError]) -> list[tuple[FoundChat, ChannelPayload]]:
        """After a whole walk: the chats of the export's layout, ``chats`` before ``left_chats``.

        A malformed chat of a full-account export is skipped and reported in ``problems``, the
        other chats are kept; a repaired chat name is reported in ``repaired``.

        Raises:
            ExportError: neither layout; the single chat malformed; ``chats``/``left_chats`` without
                a ``list``; every chat of a full-account export malformed.
        """
        if self.top == "dict" and "messages" in self.keys:
            return [(self.single, _channel(self.single, repaired))]
        if self.top == "dict" and any(name in self.keys for name in _SECTIONS):
            if bad := [name for name in _SECTIONS if name in self.bad_sections]:
                raise ExportError(f"full-account export: {bad[0]}.list is missing or not a list")
            found, skipped = [], []
            for chat in self.chats():
                try:
                    found.append((chat, _channel(chat, repaired)))
                except ExportError as exc:
                    skipped.append(ExportError(f"{exc}: chat skipped"))
            if skipped and not found:
                raise ExportError("; ".join(str(e) for e in skipped))
            problems += skipped
            return found
        keys = sorted(self.keys)[:10] if self.top == "dict" else self.top
        raise ExportError(
            "not a Telegram Desktop JSON export: expected a single chat (name, type, id, messages) or a "
            f"full-account export (chats.list); found {keys}"
        )


def _channel(chat: FoundChat, repaired: list[ExportError]) -> ChannelPayload:
    """The chat of a chat object with ``name``, ``type``, ``id``, ``messages`` (a list).

    A name holding characters that PostgreSQL or UTF-8 cannot hold is repaired (see
    :func:`~services.collector.scrub.scrub`) and reported in ``repaired``.

    Raises:
        ExportError: not an object, no integer ``id``, no ``messages`` list, a name not a string.
    """
    if not chat.is_object:
        raise ExportError(f"{chat.where} is not an object")
    chat_id, name, kind = (chat.fields.get(key) for key in ("id", "name", "type"))
    if isinstance(chat_id, bool) or not isinstance(chat_id, int):
        raise ExportError(f"{chat.where} has no integer id (got {chat_id!r})")
    if chat.messages != "list":
        raise ExportError(f"{chat.where} (id {chat_id}) has no messages list")
    if name is not None and not isinstance(name, str):
        raise ExportError(f"{chat.where} (id {chat_id}) has a non-string name {name!r}")
    name, replaced = scrub(name)
    if replaced:
        repaired.append(ExportError(f"chat {chat_id}: {replaced} character(s) of its name replaced by U+FFFD "
                                    "(NUL or lone surrogates: PostgreSQL/UTF-8 cannot hold them); chat kept"))
    chat_type = _CHAT_TYPES.get(kind, ChatType.UNKNOWN) if isinstance(kind, str) else ChatType.UNKNOWN
    return ChannelPayload(channel_id=chat_id, type=chat_type, title=name)
