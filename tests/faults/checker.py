"""A queue checker in the manner of Kafka Connect's bounce test and Jepsen's queue checker.

Every record a test publishes is a ``message.upserted`` event stamped by the collector with
``(source, seq)``; the checker remembers them (:meth:`Checker.on_published` is the collector's
``on_acked`` hook). After the services are stopped, :meth:`Checker.check` drains every topic to
its true end and compares what should be with what is:

* **lost**: a published record whose message has no row and that was not dead-lettered;
* **unexpected**: a message row, committed event or dead letter no published record explains;
* **committed missing / duplicated**: a persisted message with no ``message.committed`` event;
  a record (causation id) whose committed event is on the topic more than once (a redelivery
  re-emitted it: allowed only where a test says so);
* **media missing / orphaned**: a media reference of a persisted message without its media row,
  a media row without its message.

Draining: the local broker reports wrong end offsets, so the checker never asks for them. It
appends a sentinel record to every partition of the topic and reads from the beginning (a
consumer with its own assignment, no group) until it has seen every partition's sentinel:
then it has read everything the topic held before the check.
"""

from __future__ import annotations

import contextlib
import uuid
from collections import Counter
from dataclasses import dataclass, field

import asyncpg
from aiokafka import ConsumerRecord

from schemas import MessageCommitted, MessageUpserted, decode_event
from tgpipe.errors import EventError
from tests.support.records import drain
from tgpipe.settings import Settings

Key = tuple[int, int]
RecordId = tuple[str, int]  # (source, seq) as stamped by the collector
@dataclass
class Report:
    """What :meth:`Checker.check` found; :meth:`problems` lists what violates the contract."""

    lost: list[RecordId] = field(default_factory=list)
    unexpected_rows: list[Key] = field(default_factory=list)
    committed_missing: list[Key] = field(default_factory=list)
    committed_duplicates: dict[RecordId, int] = field(default_factory=dict)
    committed_unexpected: list[str] = field(default_factory=list)
    media_missing: list[tuple[int, int, str]] = field(default_factory=list)
    media_orphans: list[tuple[int, int, str]] = field(default_factory=list)
    dead_letters: list[ConsumerRecord] = field(default_factory=list)
    dead_lettered: list[RecordId] = field(default_factory=list)
    committed: list[MessageCommitted] = field(default_factory=list)

    def problems(self, *, allow_committed_duplicates: bool = False,
                 expect_dead: set[RecordId] | frozenset = frozenset(), foreign_dead_letters: int = 0) -> list[str]:
        """Every violation, as text; ``expect_dead`` names the published records that must be
        dead-lettered, ``foreign_dead_letters`` how many other records (poison) must be."""
        checks = [
            ("lost (neither persisted nor dead-lettered)", sorted(self.lost)),
            ("rows no published record explains", sorted(self.unexpected_rows)),
            ("persisted without a committed event", sorted(self.committed_missing)),
            ("committed events duplicated", {} if allow_committed_duplicates else self.committed_duplicates),
            ("committed events no published record explains", self.committed_unexpected),
            ("media references without a media row", sorted(self.media_missing)),
            ("media rows without their message", sorted(self.media_orphans)),
        ]
        found = [f"{label}: {value}" for label, value in checks if value]
        if set(self.dead_lettered) != set(expect_dead):
            found.append(f"dead-lettered {sorted(self.dead_lettered)}, expected {sorted(expect_dead)}")
        foreign = len(self.dead_letters) - len(self.dead_lettered)
        if foreign != foreign_dead_letters:
            found.append(f"{foreign} dead letters that are not published records, expected {foreign_dead_letters}")
        return found


class Checker:
    """Remembers published records; :meth:`check` reports on the final state (see the module docstring)."""

    def __init__(self, *, media: bool = True) -> None:
        self.published: dict[uuid.UUID, MessageUpserted] = {}
        self.media = media

    def on_published(self, events: list[MessageUpserted]) -> None:
        """The collector's ``on_acked`` hook: these records are on the messages topic."""
        for event in events:
            assert event.seq is not None, "the collector stamps every record with seq"
            self.published[event.event_id] = event

    @staticmethod
    def decode_committed(record: ConsumerRecord) -> MessageCommitted:
        event = decode_event(record.value)
        assert isinstance(event, MessageCommitted), f"{event.type} on the committed topic"
        return event

    def record_id(self, event_id: uuid.UUID) -> RecordId | None:
        event = self.published.get(event_id)
        return (event.source, event.seq) if event else None

    async def check(self, settings: Settings, db: asyncpg.Pool) -> Report:
        """Drain the committed and dead-letter topics and compare them and the tables with what was published."""
        report = Report()
        for record in await drain(settings, settings.topic_dead_letter):
            report.dead_letters.append(record)
            with contextlib.suppress(EventError):  # a poison record: not one of ours
                if rid := self.record_id(decode_event(record.value).event_id):
                    report.dead_lettered.append(rid)
        report.committed = [self.decode_committed(r) for r in await drain(settings, settings.topic_committed)]

        async with db.acquire() as conn:
            rows = {(r["channel_id"], r["message_id"]) for r in await conn.fetch(
                "SELECT channel_id, message_id FROM messages")}
            media_rows = {(r["channel_id"], r["message_id"], r["kind"]) for r in await conn.fetch(
                "SELECT channel_id, message_id, kind FROM media")}

        dead = set(report.dead_lettered)
        keys: dict[Key, list[MessageUpserted]] = {}
        for event in self.published.values():
            key = (event.payload.message.channel_id, event.payload.message.message_id)
            if (event.source, event.seq) in dead:
                continue
            keys.setdefault(key, []).append(event)
            if key not in rows:
                report.lost.append((event.source, event.seq))
        report.unexpected_rows = sorted(rows - set(keys))

        causes = Counter(e.payload.causation_id for e in report.committed)
        committed_keys = {(e.payload.channel_id, e.payload.message_id) for e in report.committed}
        report.committed_missing = sorted(rows & set(keys) - committed_keys)
        report.committed_duplicates = {self.record_id(c) or str(c): n for c, n in causes.items() if n > 1}
        report.committed_unexpected = [str(c) for c in causes if c not in self.published]

        if self.media:
            wanted = {(*key, ref.kind) for key, events in keys.items() if key in rows
                      for event in events for ref in event.payload.media}
            report.media_missing = sorted(wanted - media_rows)
            report.media_orphans = sorted(m for m in media_rows if m[:2] not in rows)
        return report
