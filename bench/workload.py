"""The benchmark's workload: ``message.upserted`` events resampled from the shared real exports.

Every chat of every export under the data folder (``../shared/data``) is read with the
collector's own :class:`~services.collector.export.ExportReader`. A workload of N messages is then
made of synthetic chats, each modelled on one real chat, taking the real chats in turn (smallest
first), so that a message comes from a real chat in proportion to its size, as in the union of
the exports (exactly so when N is a multiple of the exports' total):

* the synthetic chat has the real chat's size (the last one is cut to reach N) and type;
* each of its messages is a real message of that chat drawn at random with replacement (text,
  entities, reactions, edits, service actions, media, ``raw`` unchanged), renumbered 1..size;
  a reply points at a random earlier message of the synthetic chat;
* senders are re-keyed per synthetic chat (a chat's own posts stay signed by the chat), so the
  number of senders grows with the number of chats as it would in a real archive;
* media references keep the real export paths: the media service reads the real local files.
  With a large N the same ~535 files are referenced again and again, and the content store
  stores identical bytes once, so beyond the first pass a photo costs a read and a sha256 but no
  write (see the ``media`` counts the benchmark reports).

Events are written to a file, one ``<key> <value>\\n`` line per record (JSON never contains a raw
newline), so that every scenario publishes exactly the same bytes without holding them in memory.
"""

from __future__ import annotations

import random
import statistics
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoneinfo import ZoneInfo

from schemas import ChannelPayload, MessageUpserted, MessageUpsertedPayload, SenderPayload, encode_event
from services.collector.export import ExportReader

#: ``date`` zones of the shared exports without ``date_unixtime`` (from their READMEs); others are UTC.
KNOWN_TIMEZONES = {"hejazizo-anon-bot-chat": "Etc/GMT-1"}
#: First channel id of the synthetic chats (ids are ``CHANNEL_ID_BASE + index``).
CHANNEL_ID_BASE = 7_000_000_000
_SENDER_STRIDE = 10**11  # re-keyed sender id: real id + (chat index + 1) * stride

Layout = list[tuple[int, int]]  # (channel_id, messages 1..size) of each synthetic chat, in order


@dataclass
class Source:
    """One real chat of an export: its channel and its messages as the collector maps them."""

    export: str
    channel: ChannelPayload
    payloads: list[MessageUpsertedPayload]


def load_sources(data_dir: Path) -> list[Source]:
    """Every chat of every export folder (holding ``result.json``) under ``data_dir``.

    Raises:
        FileNotFoundError: no export under ``data_dir``.
    """
    sources: list[Source] = []
    for folder in sorted(p for p in Path(data_dir).iterdir() if (p / "result.json").is_file()):
        reader = ExportReader(folder, timezone=ZoneInfo(KNOWN_TIMEZONES.get(folder.name, "UTC")))
        by_chat: dict[int, list[MessageUpsertedPayload]] = {}
        for payload in reader.payloads():
            by_chat.setdefault(payload.channel.channel_id, []).append(payload)
        sources += [Source(folder.name, chat, by_chat[chat.channel_id])
                    for chat in reader.chats if by_chat.get(chat.channel_id)]
    if not sources:
        raise FileNotFoundError(f"no Telegram export (*/result.json) under {data_dir}")
    return sources


@dataclass
class Stats:
    """What a stream of payloads holds: sizes and the shares the workload is drawn to match."""

    download_kinds: frozenset[str] = frozenset({"photo"})
    messages: int = 0
    event_bytes: int = 0
    text_lengths: list[int] = field(default_factory=list)
    with_entities: int = 0
    replies: int = 0
    edits: int = 0
    with_reactions: int = 0
    service: int = 0
    with_media: int = 0
    photo_refs: int = 0
    media_rows: int = 0
    media_status: Counter = field(default_factory=Counter)
    channels: set[int] = field(default_factory=set)
    senders: set[tuple[str, int]] = field(default_factory=set)
    photo_files: set[str] = field(default_factory=set)
    _exists: dict[str, bool] = field(default_factory=dict, repr=False)

    def add(self, payload: MessageUpsertedPayload, event_bytes: int = 0) -> None:
        """Count one payload (and the size of its encoded event, when known)."""
        m = payload.message
        self.messages += 1
        self.event_bytes += event_bytes
        self.text_lengths.append(len(m.text))
        self.with_entities += bool(m.entities)
        self.replies += m.reply_to_message_id is not None
        self.edits += m.edit_date is not None
        self.with_reactions += bool(m.reactions)
        self.service += m.kind == "service"
        self.with_media += bool(payload.media)
        self.channels.add(payload.channel.channel_id)
        if m.sender:
            self.senders.add((m.sender.peer_type, m.sender.peer_id))
        self.media_rows += len({ref.kind for ref in payload.media})
        for ref in payload.media:
            self.photo_refs += ref.kind == "photo"
            self.media_status[self._status(ref)] += 1

    def _status(self, ref: Any) -> str:
        """The status the media service will give ``ref`` (see ``services.media.fetch.media_row``)."""
        if ref.unavailable:
            return ref.unavailable
        if ref.kind not in self.download_kinds:
            return "skipped"
        path = str(Path(ref.export_root or "") / (ref.path or ""))
        if path not in self._exists:
            self._exists[path] = Path(path).is_file()
        if not self._exists[path]:
            return "missing"
        self.photo_files.add(path)
        return "stored"

    def summary(self) -> dict[str, Any]:
        """Plain numbers for the report (shares are fractions of messages)."""
        n = self.messages or 1
        lengths = sorted(self.text_lengths) or [0]
        return {
            "messages": self.messages,
            "channels": len(self.channels),
            "senders": len(self.senders),
            "event_bytes_mean": round(self.event_bytes / n, 1) if self.event_bytes else None,
            "text_length_mean": round(statistics.fmean(lengths), 1),
            "text_length_p50": lengths[len(lengths) // 2],
            "text_length_p99": lengths[min(len(lengths) - 1, int(len(lengths) * 0.99))],
            "share_with_entities": round(self.with_entities / n, 4),
            "share_replies": round(self.replies / n, 4),
            "share_edited": round(self.edits / n, 4),
            "share_with_reactions": round(self.with_reactions / n, 4),
            "share_service": round(self.service / n, 4),
            "share_with_media": round(self.with_media / n, 4),
            "share_with_photo": round(self.photo_refs / n, 4),
            "photo_refs": self.photo_refs,
            "distinct_photo_files": len(self.photo_files),
            "media_rows": self.media_rows,
            "media_status": dict(sorted(self.media_status.items())),
        }


def source_stats(sources: Iterable[Source], download_kinds: frozenset[str]) -> Stats:
    """:class:`Stats` of the real chats themselves (event sizes as the collector would encode them)."""
    stats = Stats(download_kinds=download_kinds)
    for source in sources:
        for payload in source.payloads:
            stats.add(payload, len(encode_event(MessageUpserted(source="bench", payload=payload))))
    return stats


def generate(sources: list[Source], n: int, seed: int) -> Iterator[tuple[MessageUpserted, int]]:
    """Yield ``n`` resampled ``message.upserted`` events, each with its synthetic chat's index."""
    rng = random.Random(seed)
    turns = sorted(sources, key=lambda s: len(s.payloads))
    produced = chat = 0
    while produced < n:
        source = turns[chat % len(turns)]
        size = min(len(source.payloads), n - produced)
        channel_id = CHANNEL_ID_BASE + chat
        channel = ChannelPayload(channel_id=channel_id, type=source.channel.type,
                                 title=f"{source.channel.title} (bench {chat})")
        senders: dict[tuple[str, int], SenderPayload] = {}
        for message_id in range(1, size + 1):
            payload = _resample(rng.choice(source.payloads), channel, message_id, rng, source, chat, senders)
            yield MessageUpserted(source="bench", seq=produced, payload=payload), chat
            produced += 1
        chat += 1


def _resample(original: MessageUpsertedPayload, channel: ChannelPayload, message_id: int,
              rng: random.Random, source: Source, chat: int,
              senders: dict[tuple[str, int], SenderPayload]) -> MessageUpsertedPayload:
    m = original.message
    reply = rng.randint(1, message_id - 1) if m.reply_to_message_id is not None and message_id > 1 else None
    sender = m.sender
    if sender is not None:
        key = (sender.peer_type, sender.peer_id)
        if key not in senders:
            own = sender.peer_type == "channel" and sender.peer_id == source.channel.channel_id
            senders[key] = sender.model_copy(update={
                "peer_id": channel.channel_id if own else sender.peer_id + (chat + 1) * _SENDER_STRIDE})
        sender = senders[key]
    raw = dict(m.raw)
    raw["id"] = message_id
    if "reply_to_message_id" in raw:
        raw["reply_to_message_id"] = reply
    message = m.model_copy(update={"channel_id": channel.channel_id, "message_id": message_id,
                                   "reply_to_message_id": reply, "sender": sender, "raw": raw})
    return original.model_copy(update={"channel": channel, "message": message})


@dataclass
class Workload:
    """An events file and what it holds."""

    path: Path
    layout: Layout
    stats: Stats

    @property
    def messages(self) -> int:
        return self.stats.messages

    @property
    def bytes(self) -> int:
        return self.stats.event_bytes


def write_workload(path: Path, sources: list[Source], n: int, seed: int,
                   download_kinds: frozenset[str]) -> Workload:
    """Generate ``n`` events into ``path`` (``<key> <value>`` lines) and return their description."""
    stats = Stats(download_kinds=download_kinds)
    sizes: Counter = Counter()
    with open(path, "wb", buffering=1 << 20) as out:
        for event, _chat in generate(sources, n, seed):
            value = encode_event(event)
            out.write(event.key + b" " + value + b"\n")
            stats.add(event.payload, len(value))
            sizes[event.payload.channel.channel_id] += 1
    return Workload(path, sorted(sizes.items()), stats)


def read_events(path: Path) -> Iterator[tuple[bytes, bytes]]:
    """``(key, value)`` of each record of an events file, in order."""
    with open(path, "rb", buffering=1 << 20) as fh:
        for line in fh:
            key, _, value = line.rstrip(b"\n").partition(b" ")
            yield key, value


def replicate(sources: list[Source], n: int) -> Iterator[MessageUpsertedPayload]:
    """The real chats one after another, again and again, until ``n`` payloads (the collector's input
    for "the shared exports replicated to N messages"): replica ``r`` of a chat is channel
    ``CHANNEL_ID_BASE + r``; message ids, senders and ``raw`` are the real ones."""
    produced = replica = 0
    while True:
        for source in sources:
            channel = source.channel.model_copy(update={"channel_id": CHANNEL_ID_BASE + replica})
            for payload in source.payloads:
                if produced >= n:
                    return
                message = payload.message.model_copy(update={"channel_id": channel.channel_id})
                yield payload.model_copy(update={"channel": channel, "message": message})
                produced += 1
            replica += 1

