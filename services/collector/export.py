"""Read a Telegram Desktop JSON export ("Export chat history" / "Export Telegram data").

Pure domain mapping: JSON entries in, :class:`~schemas.events.MessageUpsertedPayload` out. No
Kafka, no database, no media file is opened (media paths are only checked with
:func:`tgpipe.paths.safe_resolve`).

Layouts of ``result.json`` (:mod:`services.collector.export_layout`, which streams it: memory holds
one entry, not the file):

* single chat: top-level ``name``, ``type``, ``id``, ``messages``;
* full account: ``chats.list`` (and ``left_chats.list`` when present), a list of chats each
  with ``name``, ``type``, ``id``, ``messages``.

Both format generations are read: 2020-era (integer ``from_id``, local ``date`` only, no
``text_entities``) and 2023+ (``"user123"``/``"channel123"``/``"chat123"`` ids, ``date_unixtime``,
``edited_unixtime``, ``text_entities``). A 2020-era export says nothing about its time zone: it
is refused unless the caller names one (never guessed).

When the export was made (``observed_at`` of every payload, contract O1): ``result.json`` does
not say (no export date; file times change when a folder is copied), so it is the newest date or
edit date in the whole export, a lower bound of the export time that is the same however often
the export is read. A later export of the chat with newer messages or edits is a newer
observation; two exports with the same newest date are ordered by content (deterministic, not by
age). The caller may give the time instead (e.g. a later one to make this reading correct an
archive made with a wrong time zone).
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from schemas.events import ChannelPayload, MediaRef, MessagePayload, MessageUpsertedPayload, SenderPayload
from schemas.vocabulary import MediaKind, MediaStatus, MessageKind, PeerType
from services.collector.export_layout import ExportWalk, FileIdentity
from services.collector.scrub import scrub_fields
from tgpipe.errors import ExportEntryError, ExportError, UnsafePathError
from tgpipe.paths import ExportPaths

_MEDIA_KINDS = {kind.value: kind for kind in MediaKind}
_PEER_ID = re.compile(f"({'|'.join(PeerType)})(\\d+)")
# Telegram Desktop writes "(File not included. …)", "(File exceeds maximum size. …)" or
# "(File unavailable, please try again later)" instead of a path; real paths start with a folder.
_PLACEHOLDER_PREFIX = "(File "


@dataclass(frozen=True, slots=True)
class UnsafeMediaPath:
    """A media path of an export that :func:`~tgpipe.paths.safe_resolve` refused (never read)."""

    chat_id: int
    message_id: int
    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class _Mapped:
    payload: MessageUpsertedPayload
    local_time: bool  # date or edit date came from a zone-less local time
    unsafe: list[tuple[str, str]]  # (path, reason)
    scrubbed: dict[str, int]  # field -> values replaced by services.collector.scrub


# --- field helpers ---------------------------------------------------------------------------


def flatten_text(text: object) -> tuple[str, list[dict[str, Any]]]:
    """Flatten an export ``text`` field into ``(text, entity objects)``.

    ``text`` is a string, or a list of strings and ``{"type", "text", …}`` objects (absent or
    ``None`` means empty). The text is the concatenation of the pieces' text; the entity objects
    are the dict pieces, unchanged.

    Raises:
        ValueError: another shape, or a piece whose ``text`` is not a string.
    """
    if text is None:
        return "", []
    if isinstance(text, str):
        return text, []
    if not isinstance(text, list):
        raise ValueError(f"text is a {type(text).__name__}, not a string or list")
    parts: list[str] = []
    entities: list[dict[str, Any]] = []
    for piece in text:
        if isinstance(piece, dict):
            entities.append(piece)
            piece = piece.get("text", "")
        if not isinstance(piece, str):
            raise ValueError(f"text piece {piece!r} is not a string")
        parts.append(piece)
    return "".join(parts), entities


def parse_peer(value: object) -> tuple[PeerType, int]:
    """Parse an export ``from_id``/``actor_id`` into ``(peer_type, peer_id)``.

    ``"user123"`` → ``("user", 123)``, ``"channel123"`` → ``("channel", 123)``, ``"chat123"`` →
    ``("chat", 123)``; a bare integer (2020-era exports) is a user.

    Raises:
        ValueError: any other value.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return PeerType.USER, value
    if isinstance(value, str) and (match := _PEER_ID.fullmatch(value)):
        return PeerType(match[1]), int(match[2])
    raise ValueError(f"unrecognised peer id {value!r}")


def _sender(entry: dict[str, Any]) -> SenderPayload | None:
    """``from_id``/``from`` of a message or ``actor_id``/``actor`` of a service message."""
    id_key, name_key = ("actor_id", "actor") if entry.get("type") == MessageKind.SERVICE else ("from_id", "from")
    if entry.get(id_key) is None:
        return None
    peer_type, peer_id = parse_peer(entry[id_key])
    return SenderPayload(peer_type=peer_type, peer_id=peer_id, name=entry.get(name_key))


def _when(entry: dict[str, Any], unix_key: str, local_key: str, tz: ZoneInfo | None
          ) -> tuple[datetime | None, bool]:
    """A UTC datetime from ``unix_key`` (seconds, string or int), else ``local_key`` read in ``tz``.

    Returns ``(value, used_local_time)``; ``(None, False)`` when both are absent.

    Raises:
        ValueError: an unusable value, naming the field.
        ExportTimezoneError: a zone-less local time and ``tz`` is ``None``.
    """
    unix, local = entry.get(unix_key), entry.get(local_key)
    try:
        if unix is not None:
            if isinstance(unix, bool) or not isinstance(unix, int | str):
                raise ValueError("not a number")
            return datetime.fromtimestamp(int(unix), UTC), False
        if local is None:
            return None, False
        if not isinstance(local, str):
            raise ValueError("not a string")
        parsed = datetime.fromisoformat(local)
        if parsed.tzinfo is None:
            if tz is None:
                raise ExportTimezoneError(local_key)
            parsed = parsed.replace(tzinfo=tz)
        return parsed.astimezone(UTC), True
    except (ValueError, OverflowError, OSError) as exc:
        key, value = (unix_key, unix) if unix is not None else (local_key, local)
        raise ValueError(f"{key} {value!r} is not a usable date: {exc}") from None


def _file_kind(media_type: object) -> MediaKind:
    """The kind of an export ``file`` from its ``media_type``: one of :class:`MediaKind`, else
    ``document`` (Telegram Desktop leaves ``media_type`` out for a plain file; a value this build
    does not know is archived as a document too, and stays in ``raw``).

    Raises:
        ValueError: ``media_type`` is neither a string nor absent.
    """
    if media_type is not None and not isinstance(media_type, str):
        raise ValueError(f"media_type {media_type!r} is not a string")
    return _MEDIA_KINDS.get(media_type or "", MediaKind.DOCUMENT)


def _media(entry: dict[str, Any], paths: ExportPaths) -> tuple[list[MediaRef], list[tuple[str, str]]]:
    """Media refs of the ``photo`` (first) and ``file`` fields, and the refused paths (checked by
    ``paths``, of the export root).

    Photo: ``photo``, ``photo_file_size``, ``width``, ``height``. File: ``file``, ``media_type``
    (kind, see :func:`_file_kind`), ``mime_type``, ``file_size``, ``width``, ``height``.
    """
    refs: list[MediaRef] = []
    unsafe: list[tuple[str, str]] = []
    for field, size_key in (("photo", "photo_file_size"), ("file", "file_size")):
        value = entry.get(field)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ValueError(f"{field} {value!r} is not a string")
        kind = MediaKind.PHOTO if field == "photo" else _file_kind(entry.get("media_type"))
        common: dict[str, Any] = {
            "kind": kind, "export_root": str(paths.root), "file_size": entry.get(size_key),
            "width": entry.get("width"), "height": entry.get("height"),
            "mime_type": entry.get("mime_type") if field == "file" else None,
        }
        if value.startswith(_PLACEHOLDER_PREFIX):
            refs.append(MediaRef(**common, unavailable=MediaStatus.NOT_INCLUDED))
            continue
        try:
            paths.resolve(value)
        except UnsafePathError as exc:
            unsafe.append((value, str(exc)))
            refs.append(MediaRef(**common, path=value, unavailable=MediaStatus.OUTSIDE_EXPORT_ROOT))
        else:
            refs.append(MediaRef(**common, path=value))
    return refs, unsafe


class ExportTimezoneError(ExportError):
    """The export gives only zone-less local times (2020-era: no ``date_unixtime``) and no time zone
    was given: reading them as UTC would store every date off by the exporter's offset."""

    def __init__(self, field: str) -> None:
        super().__init__(
            f"this export gives only local times (`{field}` without `{field}_unixtime`) and says nothing of their "
            "time zone: pass the exporting computer's zone with --timezone ZONE or TGPIPE_EXPORT_TIMEZONE=ZONE "
            "(an IANA name, e.g. Europe/Berlin, or Etc/GMT-1 for UTC+1)")


def _map(entry: object, chat: ChannelPayload, paths: ExportPaths, tz: ZoneInfo | None,
         observed_at: datetime | None = None, *, may_need_scrub: bool = True) -> _Mapped:
    if not isinstance(entry, dict):
        raise ExportEntryError(None, f"entry is a {type(entry).__name__}, not an object")
    entry, scrubbed = scrub_fields(entry) if may_need_scrub else (entry, {})
    message_id = entry.get("id")
    if isinstance(message_id, bool) or not isinstance(message_id, int):
        raise ExportEntryError(message_id, "id is missing or not an integer")
    try:
        date, local_date = _when(entry, "date_unixtime", "date", tz)
        if date is None:
            raise ValueError("no date / date_unixtime")
        edit_date, local_edit = _when(entry, "edited_unixtime", "edited", tz)
        text, text_pieces = flatten_text(entry.get("text"))
        entities = entry["text_entities"] if entry.get("text_entities") is not None else text_pieces
        media, unsafe = _media(entry, paths)
        reply_peer = entry.get("reply_to_peer_id")
        message = MessagePayload(
            channel_id=chat.channel_id, message_id=message_id,
            kind=MessageKind.SERVICE if entry.get("type") == MessageKind.SERVICE else MessageKind.MESSAGE,
            date=date, edit_date=edit_date, sender=_sender(entry), text=text, entities=entities,
            reply_to_message_id=entry.get("reply_to_message_id"),
            reply_to_peer=None if reply_peer is None else str(reply_peer),
            forwarded_from=entry.get("forwarded_from"), post_author=entry.get("author"),
            action=entry.get("action"), reactions=entry.get("reactions"),
            media_kind=media[0].kind if media else None, raw=entry,
        )
        payload = MessageUpsertedPayload(channel=chat, message=message, media=media, observed_at=observed_at)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ExportEntryError(message_id, f"invalid {where}: {first['msg']}") from None
    except ValueError as exc:
        raise ExportEntryError(message_id, str(exc)) from None
    return _Mapped(payload, local_date or local_edit, unsafe, scrubbed)


def map_entry(entry: dict[str, Any], chat: ChannelPayload, export_root: Path, tz: ZoneInfo | None,
              observed_at: datetime | None = None) -> MessageUpsertedPayload:
    """Map one export message entry of ``chat`` to a payload.

    Fields read: ``id``, ``type`` (``"service"`` or a message), ``date_unixtime`` (UTC seconds)
    else ``date`` (zone-less local time, read in ``tz``), ``edited_unixtime`` else ``edited``,
    ``text`` (see :func:`flatten_text`), ``text_entities`` (else the object pieces of ``text``),
    ``from_id``/``from`` (messages) or ``actor_id``/``actor`` (service), ``reply_to_message_id``,
    ``reply_to_peer_id``, ``forwarded_from``, ``author``, ``action``, ``reactions``, and the media
    fields ``photo``/``photo_file_size``, ``file``/``file_size``/``media_type``/``mime_type``,
    ``width``/``height``. Placeholders ``"(File …)"`` give ``unavailable="not_included"``; paths
    refused by :func:`~tgpipe.paths.safe_resolve` give ``unavailable="outside_export_root"`` with the
    path kept. Files are never opened. ``raw`` is ``entry`` unchanged, except that every value first
    goes through :func:`services.collector.scrub.scrub` (NUL and lone surrogates become U+FFFD,
    ``NaN``/``Infinity`` become ``null``: PostgreSQL and UTF-8 cannot hold them), and so do the
    fields read from it. ``export_root`` is resolved to an absolute path for ``MediaRef.export_root``.
    ``observed_at`` becomes the payload's (when the export was made, see the module docstring).

    Raises:
        ExportEntryError: not an object, ``id`` missing or not an int, no usable date, a field
            of the wrong shape (text, peer id, media path, ``media_type``, numbers), or a ``photo``
            and a ``file`` of the same kind (``media_type: "photo"``: one media item per kind and
            message).
        ExportTimezoneError: a zone-less local time and ``tz`` is ``None``.
    """
    return _map(entry, chat, ExportPaths(export_root.resolve()), tz, observed_at).payload


# --- the reader ------------------------------------------------------------------------------


def _result_json(path: Path) -> Path:
    """``result.json`` of an export directory, or ``path`` itself when it is a file."""
    return path / "result.json" if path.is_dir() else path


class _IdSet:
    """The message ids of one chat, as sorted disjoint intervals ``[start, end]`` in two int64
    arrays: Telegram Desktop writes a chat's messages in ascending id order, so adding one extends
    the last interval or starts the next, and memory grows with the gaps between ids (deleted
    messages), not with the messages."""

    def __init__(self) -> None:
        self._starts, self._ends = array("q"), array("q")

    def add(self, value: int) -> bool:
        """Add ``value`` (a valid Int64 message id); ``False`` when it was already there."""
        starts, ends = self._starts, self._ends
        at = len(starts) - 1 if ends and value > ends[-1] else bisect_right(starts, value) - 1
        if at >= 0 and value <= ends[at]:
            return False
        joins_left = at >= 0 and ends[at] + 1 == value
        joins_right = at + 1 < len(starts) and starts[at + 1] - 1 == value
        if joins_left and joins_right:
            ends[at] = ends[at + 1]
            del starts[at + 1], ends[at + 1]
        elif joins_left:
            ends[at] = value
        elif joins_right:
            starts[at + 1] = value
        else:
            starts.insert(at + 1, value)
            ends.insert(at + 1, value)
        return True


class _Survey:
    """The first walk: the newest date or edit date per chat (ordinal), and the first chat whose
    entries give a local time while no zone is known."""

    def __init__(self, timezone: ZoneInfo | None) -> None:
        self.timezone = timezone
        self.newest: dict[int, datetime] = {}
        self.zone_missing: dict[int, ExportTimezoneError] = {}

    def add(self, ordinal: int, entry: object) -> None:
        """Take one entry's ``date``/``edited`` into account (malformed ones are left out: they are
        reported by :meth:`ExportReader.payloads`)."""
        if not isinstance(entry, dict) or ordinal in self.zone_missing:
            return
        for unix_key, local_key in (("date_unixtime", "date"), ("edited_unixtime", "edited")):
            try:
                value, _ = _when(entry, unix_key, local_key, self.timezone)
            except ExportTimezoneError as exc:
                self.zone_missing[ordinal] = exc
                return
            except ValueError:
                continue
            if value is not None and (ordinal not in self.newest or value > self.newest[ordinal]):
                self.newest[ordinal] = value


class ExportReader:
    """A Telegram Desktop JSON export, streamed (:mod:`services.collector.export_layout`) and mapped
    entry by entry: memory holds one entry at a time and does not grow with the export.

    The constructor walks ``result.json`` once (the layout, the chats, whatever metadata comes after
    the messages, the newest date); :meth:`payloads` walks it again. Both read every entry exactly
    as ``json.load`` would (:mod:`services.collector.jsonstream`). A file that is not JSON is
    therefore refused by the constructor, before anything is published; if it changes between the
    walks, :meth:`payloads` raises where it notices (the payloads already yielded stand).

    Args:
        path: the export directory (holding ``result.json``) or the path of the JSON file itself.
        timezone: zone of zone-less local ``date``/``edited`` values (``settings.export_timezone``),
            used only when ``date_unixtime``/``edited_unixtime`` are absent; ``None``: no zone known.
        observed_at: when the export was made (``settings.export_observed_at``); default: its
            newest date or edit date (see the module docstring).

    Raises:
        ExportError: the file is missing, unreadable, not JSON (e.g. truncated: the message names
            the byte offset, and the chat and entry index when inside one), holds one value over
            :data:`~services.collector.export_layout.MAX_VALUE_CHARS`, or is not one of the two
            layouts (a chat without an integer ``id`` or a ``messages`` list included).
        ExportTimezoneError: ``timezone`` is ``None`` and an entry gives only a local time.

    Attributes:
        export_root: the absolute, resolved export directory (``MediaRef.export_root``).
        file: the ``result.json`` read.
        identity: the file's size, modification time and inode when first read.
        chats: one :class:`ChannelPayload` per chat, in export order (``chats`` before ``left_chats``).
        entries: message entries of those chats (valid or not): an upper bound of the payloads.
        problems: what the last :meth:`payloads` iteration skipped: each malformed entry as an
            :class:`ExportEntryError` (``message_id`` as found, ``reason`` naming the chat and the
            entry's index), preceded by each malformed chat of a full-account export as an
            :class:`ExportError` (its messages skipped with it).
        repaired: what that iteration kept after changing it: messages (an
            :class:`ExportEntryError` naming the fields) and chat names holding NUL or lone
            surrogates (U+FFFD instead) or ``NaN``/``Infinity`` numbers (``null`` instead).
        unsafe_paths: media paths refused by ``safe_resolve`` during that iteration.
        local_time_fallbacks: messages of that iteration whose date or edit date was read as local
            time in ``timezone``.
        observed_at: every payload's ``observed_at`` (``None`` for an export without a usable date).
    """

    def __init__(self, path: Path, *, timezone: ZoneInfo | None, observed_at: datetime | None = None) -> None:
        self.timezone = timezone
        self.file = _result_json(Path(path))
        self.export_root = self.file.parent.resolve()
        survey, walk = _Survey(timezone), ExportWalk(self.file)
        for found, _, entry, _ in walk.entries():
            survey.add(found.ordinal, entry)
        assert walk.identity is not None  # set once the walk opened the file
        self.identity: FileIdentity = walk.identity
        self._chat_problems: list[ExportError] = []
        self._chat_repairs: list[ExportError] = []
        layout = walk.layout(self._chat_problems, self._chat_repairs)
        for found, _ in layout:
            if found.ordinal in survey.zone_missing:
                raise survey.zone_missing[found.ordinal]
        self._chats = {found.ordinal: chat for found, chat in layout}
        self._counts = walk.counts()
        self.chats = [chat for _, chat in layout]
        self.entries = sum(found.entries for found, _ in layout)
        self.observed_at = observed_at or max(
            (survey.newest[found.ordinal] for found, _ in layout if found.ordinal in survey.newest), default=None)
        self.problems: list[ExportError] = []
        self.repaired: list[ExportError] = []
        self.unsafe_paths: list[UnsafeMediaPath] = []
        self.local_time_fallbacks = 0

    def payloads(self) -> Iterator[MessageUpsertedPayload]:
        """Yield one payload per valid entry, in export order.

        Never raises for a bad entry: it is recorded in :attr:`problems` and skipped. A repeated
        message id within a chat keeps the first entry. A message whose values had to be scrubbed
        is kept and recorded in :attr:`repaired`. The report attributes are reset when the
        iteration starts and are complete once it is exhausted.

        Raises:
            ExportError: ``result.json`` changed since the constructor read it, or cannot be read
                any more (the message names the byte offset, chat and entry); nothing after that
                point is yielded.
        """
        self.problems, self.repaired = list(self._chat_problems), list(self._chat_repairs)
        self.unsafe_paths, self.local_time_fallbacks = [], 0
        walk, seen, seen_for, paths = ExportWalk(self.file), _IdSet(), 0, ExportPaths(self.export_root)
        for found, index, entry, may_need_scrub in walk.entries(expect=self.identity):
            if (chat := self._chats.get(found.ordinal)) is None:
                continue
            if found.ordinal != seen_for:
                seen, seen_for = _IdSet(), found.ordinal
            try:
                mapped = _map(entry, chat, paths, self.timezone, self.observed_at,
                              may_need_scrub=may_need_scrub)
                message_id = mapped.payload.message.message_id
                if not seen.add(message_id):
                    raise ExportEntryError(message_id, "duplicate message id, first entry kept")
            except ExportEntryError as exc:
                where = f"chat {chat.channel_id}, entry #{index}"
                self.problems.append(ExportEntryError(exc.message_id, f"{exc.reason} ({where})"))
                continue
            if mapped.scrubbed:
                fields = ", ".join(f"{field} ({n})" for field, n in mapped.scrubbed.items())
                self.repaired.append(ExportEntryError(message_id, (
                    f"NUL or lone-surrogate characters replaced by U+FFFD, NaN/Infinity by null, in {fields} "
                    f"(PostgreSQL/UTF-8 cannot hold them); message kept (chat {chat.channel_id}, "
                    f"entry #{index})")))
            self.local_time_fallbacks += mapped.local_time
            self.unsafe_paths += [UnsafeMediaPath(chat.channel_id, message_id, path, reason)
                                  for path, reason in mapped.unsafe]
            yield mapped.payload
        if walk.counts() != self._counts:
            raise ExportError(f"{self.file} changed since it was first read: read it again")
