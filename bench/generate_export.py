"""Write a Telegram Desktop export folder of N messages, modelled on the shared real exports.

``python -m bench.generate_export --messages N --out DIR [--layout single|account] [--chats K]
[--seed S] [--data DIR]`` writes ``DIR/result.json`` and ``DIR/photos/``, the way Telegram Desktop
writes them (UTF-8, one-space indentation, ``name``/``type``/``id`` before ``messages``):

* ``single``: one chat, top-level ``name``, ``type``, ``id``, ``messages``; ``account``: a
  full-account export (``about``, ``personal_information``, ``contacts``, ``chats.list`` and, from
  two chats on, the last chat in ``left_chats.list``) of K chats sharing the N messages.
* Each message is a real entry of ``../shared/data/*/result.json`` drawn at random (seeded), in
  proportion to the exports' sizes, kept as written (text as a string or as pieces,
  ``text_entities``, reactions, ``author``, service actions, both id styles: ``"user123"`` /
  ``"channel123"`` and the 2020-era bare integer), then renumbered and redated: ids ascend with a
  gap now and then (a deleted message), dates ascend from a per-chat start; an entry from a
  2020-era export keeps only a zone-less local ``date``/``edited`` (read such an export with
  ``--timezone UTC``: dates here are written in UTC), the others get ``date_unixtime`` /
  ``edited_unixtime`` too. ``reply_to_message_id`` and a pin's ``message_id`` point at an earlier
  id of the same chat.
* A photo (of a message or a service message) refers to one of a few real JPEGs copied from the
  shared exports into ``DIR/photos/`` (with their real ``photo_file_size``, ``width``,
  ``height``); another file becomes Telegram Desktop's "File not included" placeholder.

The file is written entry by entry: memory holds the source entries (a few MB), never the N messages.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
#: Chat ids of the generated chats: ``CHAT_ID_BASE + index``.
CHAT_ID_BASE = 8_000_000_000
PHOTOS = 12  # real JPEGs copied into the generated folder
PLACEHOLDER = "(File not included. Change data exporting settings to download.)"
_CHAT_TYPES = ("public_channel", "private_supergroup", "personal_chat", "bot_chat")
_START = datetime(2021, 1, 1, tzinfo=UTC)
_GAP_CHANCE = 0.02  # an id skipped: a deleted message


@dataclass(frozen=True)
class Photo:
    """A real JPEG copied into the generated export: its path there and its export fields."""

    path: str
    size: int
    width: int | None
    height: int | None


def load_entries(data_dir: Path) -> list[dict[str, Any]]:
    """Every message entry of every ``*/result.json`` under ``data_dir`` (single-chat exports).

    Raises:
        FileNotFoundError: no export there.
    """
    entries: list[dict[str, Any]] = []
    for file in sorted(Path(data_dir).glob("*/result.json")):
        entries += json.loads(file.read_text(encoding="utf-8"))["messages"]
    if not entries:
        raise FileNotFoundError(f"no Telegram export (*/result.json) under {data_dir}")
    return entries


def copy_photos(data_dir: Path, out: Path, count: int = PHOTOS) -> list[Photo]:
    """Copy the first ``count`` photos the shared exports reference (and hold) into ``out/photos``.

    Raises:
        FileNotFoundError: the shared exports hold no photo.
    """
    (out / "photos").mkdir(parents=True, exist_ok=True)
    photos: list[Photo] = []
    for file in sorted(Path(data_dir).glob("*/result.json")):
        for entry in json.loads(file.read_text(encoding="utf-8"))["messages"]:
            source = file.parent / str(entry.get("photo", ""))
            if len(photos) == count or "photo" not in entry or not source.is_file():
                continue
            path = f"photos/photo_{len(photos) + 1}.jpg"
            shutil.copyfile(source, out / path)
            photos.append(Photo(path, source.stat().st_size, entry.get("width"), entry.get("height")))
    if not photos:
        raise FileNotFoundError(f"no photo file in the exports under {data_dir}")
    return photos


def _local(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S")


class _Chat:
    """One generated chat: its message entries, made one at a time."""

    def __init__(self, index: int, size: int, sources: list[dict[str, Any]], photos: list[Photo],
                 rng: random.Random) -> None:
        self.id, self.size = CHAT_ID_BASE + index, size
        self.type = _CHAT_TYPES[index % len(_CHAT_TYPES)]
        self.name = f"Generated chat {index + 1}"
        self._sources, self._photos, self._rng = sources, photos, rng
        self._start = int(_START.timestamp()) + index * 86_400

    def entries(self) -> Iterator[dict[str, Any]]:
        """``size`` entries in ascending id and date order."""
        rng, message_id, when = self._rng, 0, self._start
        for _ in range(self.size):
            message_id += 2 if rng.random() < _GAP_CHANCE else 1
            when += rng.randint(1, 900)
            yield self._entry(dict(rng.choice(self._sources)), message_id, when)

    def _entry(self, entry: dict[str, Any], message_id: int, when: int) -> dict[str, Any]:
        rng, modern = self._rng, "date_unixtime" in entry
        date = datetime.fromtimestamp(when, UTC)
        entry.update(id=message_id, date=_local(date))
        if modern:
            entry["date_unixtime"] = str(when)
        if "edited" in entry:
            edited = when + rng.randint(1, 3600)
            entry["edited"] = _local(datetime.fromtimestamp(edited, UTC))
            if modern:
                entry["edited_unixtime"] = str(edited)
        for key in ("reply_to_message_id", "message_id"):  # a reply, a pinned message: an earlier one
            if key in entry:
                if message_id > 1:
                    entry[key] = rng.randint(1, message_id - 1)
                else:
                    del entry[key]
        if "photo" in entry:
            photo = rng.choice(self._photos)
            entry.update(photo=photo.path, photo_file_size=photo.size, width=photo.width, height=photo.height)
        if "file" in entry:
            entry["file"] = PLACEHOLDER
            entry.pop("thumbnail", None)
        return entry


def _chat_sizes(messages: int, chats: int) -> list[int]:
    return [messages // chats + (i < messages % chats) for i in range(chats)]


def _write_chat(out: TextIO, chat: _Chat, indent: str) -> None:
    """One chat object, Telegram Desktop's way (one-space indentation), entry by entry."""
    inner = indent + " "
    out.write(f"{indent}{{\n")
    for key, value in (("name", chat.name), ("type", chat.type), ("id", chat.id)):
        out.write(f"{inner}{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},\n")
    out.write(f'{inner}"messages": [')
    for number, entry in enumerate(chat.entries()):
        text = json.dumps(entry, ensure_ascii=False, indent=1).replace("\n", "\n" + inner + " ")
        out.write(f"{',' if number else ''}\n{inner} {text}")
    out.write(f"\n{inner}]\n{indent}}}")


def generate(out: Path, messages: int, *, layout: str = "single", chats: int = 1, seed: int = 0,
             data_dir: Path = DEFAULT_DATA) -> Path:
    """Write the export folder ``out`` (created; an existing ``result.json`` is replaced) and return
    the path of its ``result.json``. ``layout="single"`` needs ``chats == 1``.

    Raises:
        ValueError: ``messages`` < 1, ``chats`` < 1, more chats than messages, or a single-chat
            layout of several chats.
        FileNotFoundError: no shared export (or no photo) under ``data_dir``.
    """
    if messages < 1 or chats < 1 or chats > messages or (layout == "single" and chats != 1):
        raise ValueError(f"cannot make {chats} chat(s) of a {layout} export of {messages} message(s)")
    out.mkdir(parents=True, exist_ok=True)
    sources, photos, rng = load_entries(data_dir), copy_photos(data_dir, out), random.Random(seed)
    made = [_Chat(i, size, sources, photos, rng) for i, size in enumerate(_chat_sizes(messages, chats))]
    file = out / "result.json"
    with file.open("w", encoding="utf-8") as fh:
        if layout == "single":
            _write_chat(fh, made[0], "")
        else:
            left = made[-1:] if len(made) > 1 else []
            fh.write('{\n "about": "Generated by bench/generate_export.py from the shared exports",\n'
                     ' "personal_information": {\n  "user_id": 1,\n  "first_name": "Bench"\n },\n'
                     ' "contacts": {\n  "about": "",\n  "list": []\n },\n')
            for section, members in (("chats", made[: len(made) - len(left)]), ("left_chats", left)):
                fh.write(f' "{section}": {{\n  "about": "",\n  "list": [\n')
                for number, chat in enumerate(members):
                    fh.write(",\n" if number else "")
                    _write_chat(fh, chat, "   ")
                fh.write(f"\n  ]\n }}{',' if section == 'chats' else ''}\n")
        fh.write("\n" if layout == "single" else "}\n")
    return file


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module docstring); prints the path and size written."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, required=True, help="messages in the export")
    parser.add_argument("--out", type=Path, required=True, help="the export folder to write")
    parser.add_argument("--layout", choices=("single", "account"), default="single")
    parser.add_argument("--chats", type=int, default=None, help="chats (account layout; default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of the real exports to draw from")
    args = parser.parse_args(argv)
    chats = args.chats or (3 if args.layout == "account" else 1)
    try:
        file = generate(args.out, args.messages, layout=args.layout, chats=min(chats, args.messages),
                        seed=args.seed, data_dir=args.data)
    except (ValueError, FileNotFoundError) as exc:
        parser.error(str(exc))
    print(f"wrote {file} ({file.stat().st_size:,} bytes, {args.messages:,} messages)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
