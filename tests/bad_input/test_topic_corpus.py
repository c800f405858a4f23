"""Poison records on the messages topic, from a producer other than tgpipe's collector.

Every case gets a chat (= key = partition) of its own holding, in this order, a good event
(message 1), the bad record, and a good event (message 3); all of them are published to one
running writer at once. Each bad record must be dead-lettered alone, unchanged, with headers that
name it and say why; both good events around it must be written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from tests.bad_input.cases import TOPIC_CASES, TopicCase, good_value
from tests.support.broker import topic_settings
from tests.support.database import fresh_database
from tgpipe.runtime.inprocess import running_services
from tgpipe.runtime.progress import ProgressTracker
from tgpipe.db import create_pool
from tgpipe.kafka.dead_letters import DeadLetter, read_dead_letters

TOPIC_BASE = 8000


@dataclass
class TopicRun:
    topic: str
    sent: dict[str, tuple[bytes, int, int]]  # case id -> bad value, its partition and offset
    dead: dict[bytes, list[DeadLetter]]  # key -> dead letters
    written: set[tuple[int, int]]


@pytest.fixture(scope="module")
async def topic_run(postgres_url, template_database, kafka, tmp_path_factory) -> TopicRun:
    base = tmp_path_factory.mktemp("poison")
    async with fresh_database(postgres_url, template_database) as url, topic_settings(url, kafka,
                                                                                      base) as settings:
        tracker = ProgressTracker()
        sent = {}
        async with running_services(settings, tracker, media=False) as producer:
            for i, case in enumerate(TOPIC_CASES):
                chat = TOPIC_BASE + i
                bad = case.value(chat)
                for value in (good_value(chat, 1), bad, good_value(chat, 3)):
                    meta = await producer.publish(value, topic=settings.topic_messages,
                                                  key=str(chat).encode())
                    if value is bad:
                        sent[case.id] = (bad, meta.partition, meta.offset)
            # Each case's dead letter is published before the good record after it is committed.
            await tracker.wait_until(lambda: len(tracker.committed) >= 2 * len(TOPIC_CASES), stall_timeout=90)
            letters = await read_dead_letters(settings, idle_s=2.0)
        pool = await create_pool(url)
        try:
            written = {(r["channel_id"], r["message_id"]) for r in await pool.fetch(
                "SELECT channel_id, message_id FROM messages")}
        finally:
            await pool.close()
    dead: dict[bytes, list[DeadLetter]] = {}
    for letter in letters:
        dead.setdefault(letter.key, []).append(letter)
    return TopicRun(settings.topic_messages, sent, dead, written)


@pytest.mark.parametrize("index, case", list(enumerate(TOPIC_CASES)), ids=[c.id for c in TOPIC_CASES])
def test_topic_case(topic_run: TopicRun, index: int, case: TopicCase):
    chat = TOPIC_BASE + index
    assert {(chat, 1), (chat, 3)} <= topic_run.written and (chat, 2) not in topic_run.written
    (letter,) = topic_run.dead.get(str(chat).encode(), [])
    value, partition, offset = topic_run.sent[case.id]
    assert letter.value == value  # unchanged
    assert letter.source == f"{topic_run.topic}[{partition}]@{offset}"
    assert letter.header("tgpipe-error-class") == case.error_class
    assert re.search(case.message,
                     letter.header("tgpipe-error-message")), letter.header("tgpipe-error-message")


def test_topic_corpus_dead_letters_nothing_else(topic_run: TopicRun):
    assert sum(map(len, topic_run.dead.values())) == len(TOPIC_CASES)
    assert len({c.id for c in TOPIC_CASES}) == len(TOPIC_CASES)
