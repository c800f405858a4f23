"""Poison records between good ones in one partition: dead-lettered alone, with their reasons."""

from __future__ import annotations

import json
import logging
import re
import uuid

import pytest

from schemas import CommittedPayload, MessageCommitted, MessageUpserted, encode_event
from tests.support.factories import message_event
from tests.faults.checker import Checker
from tests.faults.harness import keys_of, run_until
from tests.support.broker import collector

pytestmark = pytest.mark.faults

KEY = b"42"  # one key: one partition, in publication order
DATABASE_REFUSED = {"CharacterNotInRepertoireError", "UntranslatableCharacterError"}


def _good(message_id: int, **kwargs) -> MessageUpserted:
    payload = message_event(42, message_id, **kwargs).payload
    return MessageUpserted(source="poison-test", seq=message_id, payload=payload)


def _nul_in_raw_only(message_id: int) -> MessageUpserted:
    event = _good(message_id, text="clean text")
    message = event.payload.message.model_copy(update={"raw": {"id": message_id, "note": "nul \x00 in jsonb"}})
    return event.model_copy(update={"payload": event.payload.model_copy(update={"message": message})})


def _json_with(event: MessageUpserted, path: list[str], value: object) -> bytes:
    data = json.loads(encode_event(event))
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(data).encode()


def _bytes(value: MessageUpserted | bytes) -> bytes:
    return encode_event(value) if isinstance(value, MessageUpserted) else value


async def _publish_in_order(settings, checker: Checker, values: list[MessageUpserted | bytes]) -> None:
    async with collector(settings) as broker:
        for value in values:
            await broker.publish(_bytes(value), topic=settings.topic_messages, key=KEY)
            if isinstance(value, MessageUpserted):
                checker.on_published([value])


async def test_contract_E3_poison_records_of_each_kind_dead_lettered_with_headers(fault_settings, db, checker):
    settings = fault_settings
    committed = MessageCommitted(source="test", payload=CommittedPayload(channel_id=42, message_id=90,
                                                                         causation_id=uuid.uuid4()))
    poison: list[tuple[bytes | MessageUpserted, set[str]]] = [
        (b"\x00\x01 not json", {"UndecodableEventError"}),
        (b"\xff\xfe not UTF-8", {"UndecodableEventError"}),
        (_json_with(_good(91), ["schema_version"], 99), {"EventSchemaError"}),          # unknown version
        (_json_with(_good(92), ["type"], "message.exploded"), {"EventSchemaError"}),    # unknown type
        (encode_event(committed), {"EventSchemaError"}),                                # wrong topic
        (_json_with(_good(93), ["payload", "message", "date"], ...), {"EventSchemaError"}),  # fails its schema
        (_good(94, text="NUL \x00 in text"), DATABASE_REFUSED),  # valid, but PostgreSQL refuses it
        (_nul_in_raw_only(95), DATABASE_REFUSED),
    ]
    good = [_good(i, text=f"good {i}") for i in range(1, 6)]
    bad = [value for value, _ in poison]
    values = [good[0], *bad[:3], good[1], *bad[3:6], good[2], bad[6], good[3], bad[7], good[4]]
    await _publish_in_order(settings, checker, values)
    await run_until(settings, db, keys_of([e.payload for e in good]), media=False)

    database_poison = {("poison-test", 94), ("poison-test", 95)}
    report = await checker.check(settings, db)
    assert report.problems(expect_dead=database_poison, foreign_dead_letters=6) == []
    async with db.acquire() as conn:
        assert [r["text"] for r in await conn.fetch("SELECT text FROM messages ORDER BY message_id")] == [
            f"good {i}" for i in range(1, 6)]

    offsets = [_bytes(v) for v in values]
    reasons = {_bytes(value): reason for value, reason in poison}
    assert len(report.dead_letters) == len(poison)
    for record in report.dead_letters:
        headers = {k: v.decode() for k, v in record.headers}
        assert headers["tgpipe-error-class"] in reasons[record.value]
        assert headers["tgpipe-source-topic"] == settings.topic_messages
        assert int(headers["tgpipe-source-offset"]) == offsets.index(record.value)
        assert headers["tgpipe-source-partition"].isdigit() and headers["tgpipe-error-message"]


async def test_contract_E4_database_poison_is_split_out_of_its_batch(fault_settings, db, checker, caplog):
    settings = fault_settings
    values = [_good(i, text=f"good {i}") for i in range(1, 11)]
    values[6] = _good(7, text="NUL \x00 in text")  # one bad record in the middle of a full batch
    caplog.set_level(logging.WARNING, "tgpipe.kafka.consume")
    await _publish_in_order(settings, checker, values)
    await run_until(settings, db, keys_of([e.payload for e in values if e.seq != 7]), media=False)

    report = await checker.check(settings, db)
    assert report.problems(expect_dead={("poison-test", 7)}) == []  # its 9 batch-mates persisted
    splits = [m for r in caplog.records if (m := re.match(r"batch of (\d+) failed permanently", r.getMessage()))]
    assert len(splits) == 1 and int(splits[0][1]) > 1  # split once, out of a batch with good records
