"""``tgpipe dlq list|show|replay`` against the real broker, with a running writer.

The story an operator lives through: a database constraint that should not be there (added
here to the test database, then dropped: "the fix") makes the writer dead-letter one message
among good ones, next to real poison (bytes that are not JSON, an unknown schema version).
``dlq list`` shows the three with where they came from and why; ``dlq show`` prints one; after
the fix, ``dlq replay`` sends the message back and it lands. Replaying the undecodable one only
dead-letters it again, marked as a replay.
"""

from __future__ import annotations

import asyncio
import json
import re

from typer.testing import CliRunner

from schemas import encode_event
from tests.support.factories import message_event
from tests.support.records import peek
from tests.support.env import settings_env as _env
from tgpipe.runtime.inprocess import running_services
from tgpipe.runtime.progress import ProgressTracker
from tgpipe.cli import app
from tgpipe.kafka.dead_letters import describe_value, read_dead_letters, render_value


async def _cli(settings, *args: str):
    """Run ``tgpipe ARGS`` in a worker thread (the command runs its own event loop) with ``settings``."""
    return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=_env(settings))


async def test_contract_D1_dead_letters_listed_shown_and_replayed_after_the_fix(settings, db):
    async with db.acquire() as conn:
        await conn.execute("ALTER TABLE messages ADD CONSTRAINT no_forbidden_text "
                           "CHECK (text <> 'forbidden')")
    future = json.loads(encode_event(message_event(42, 9)))
    future["schema_version"] = 99
    poison = {
        "CheckViolationError": encode_event(message_event(42, 2, text="forbidden")),
        "UndecodableEventError": b"\xff\x00 not json",
        "EventSchemaError": json.dumps(future).encode(),
    }
    tracker = ProgressTracker()
    async with running_services(settings, tracker, media=False) as producer:
        for value in (encode_event(message_event(42, 1, text="ok")), *poison.values(),
                      encode_event(message_event(42, 3, text="ok"))):
            await producer.publish(value, topic=settings.topic_messages, key=b"42")
        await tracker.wait_until(lambda: {(42, 1), (42, 3)} <= tracker.committed, stall_timeout=60)
        letters = {d.header("tgpipe-error-class"): d for d in await read_dead_letters(settings)}
        assert {k: d.value for k, d in letters.items()} == poison

        listed = await _cli(settings, "dlq", "list")
        assert listed.exit_code == 0, listed.output
        lines = [line for line in listed.output.splitlines() if "  from " in line]
        assert len(lines) == 3 and "3 dead letter(s)" in listed.output
        check = letters["CheckViolationError"]
        (line,) = [line for line in lines if "CheckViolationError" in line]
        assert line.startswith(f"{check.partition}@{check.offset}  from {settings.topic_messages}[")
        assert "key=42  chat 42 message 2  CheckViolationError: new row for relation \"messages\"" in line
        assert any("chat 42 message 9  EventSchemaError: unsupported schema_version 99" in line
                   for line in lines)
        as_json = json.loads((await _cli(settings, "dlq", "list", "--json")).output)
        assert {d["error_class"] for d in as_json} == set(poison) and all(d["source_offset"] for d in as_json)

        shown = await _cli(settings, "dlq", "show", str(check.offset), "--partition", str(check.partition))
        assert shown.exit_code == 0, shown.output
        assert f"header tgpipe-source-offset: {check.header('tgpipe-source-offset')}" in shown.output
        assert '"text": "forbidden"' in shown.output  # the value, as indented JSON
        junk = letters["UndecodableEventError"]
        shown = await _cli(settings, "dlq", "show", str(junk.offset), "-p", str(junk.partition))
        assert repr(poison["UndecodableEventError"]) in shown.output
        missing = await _cli(settings, "dlq", "show", "999", "-p", str(check.partition), "--idle-seconds",
                             "0.5")
        assert missing.exit_code == 1 and "no dead letter at" in missing.output

        # Nothing is sent without saying which, nor on a dry run.
        assert (await _cli(settings, "dlq", "replay")).exit_code == 2
        assert (await _cli(settings, "dlq", "replay", "5")).exit_code == 2  # an offset needs its partition
        dry = await _cli(settings, "dlq", "replay", "--all", "--dry-run")
        assert dry.exit_code == 0 and "would send 3 of 3" in dry.output
        await asyncio.sleep(1)
        assert (42, 2) not in tracker.committed

        # The fix, then the replay of that one dead letter: the message lands.
        async with db.acquire() as conn:
            await conn.execute("ALTER TABLE messages DROP CONSTRAINT no_forbidden_text")
        replayed = await _cli(settings, "dlq", "replay", str(check.offset), "--partition",
                              str(check.partition))
        assert replayed.exit_code == 0, replayed.output
        assert re.search(rf"chat 42 message 2  sent to {re.escape(settings.topic_messages)}\[\d\]@\d+",
                         replayed.output)
        await tracker.wait_until(lambda: (42, 2) in tracker.committed, stall_timeout=60)
        sent_back = [r for r in await peek(settings, settings.topic_messages)
                     if dict(r.headers).get("tgpipe-replayed-from") == check.where.encode()]
        assert [dict(r.headers)["content-type"] for r in sent_back] == [b"application/json"]  # kept

        # Undecodable bytes cannot be fixed by a replay: dead-lettered again, saying it was a replay.
        again = await _cli(settings, "dlq", "replay", "--all", "--error-class", "UndecodableEventError")
        assert again.exit_code == 0 and "sent 1 of 1" in again.output
        for _ in range(100):
            letters_now = await read_dead_letters(settings, idle_s=0.5)
            if len(letters_now) == 4:
                break
        replays = [d for d in letters_now if d.header("tgpipe-replayed-from")]
        assert [(d.value, d.header("tgpipe-replayed-from"), d.header("content-type")) for d in replays] == [
            (junk.value, junk.where, "application/octet-stream")]
        assert f"(replay of {junk.where})" in (await _cli(settings, "dlq", "list")).output

    async with db.acquire() as conn:
        rows = await conn.fetch("SELECT message_id, text FROM messages ORDER BY message_id")
    assert [(r["message_id"], r["text"]) for r in rows] == [(1, "ok"), (2, "forbidden"), (3, "ok")]


def test_values_are_described_even_when_invalid():
    valid = encode_event(message_event(7, 3))
    assert describe_value(valid) == "chat 7 message 3"
    broken = json.loads(valid)
    broken["schema_version"] = 2
    assert describe_value(json.dumps(broken).encode()) == "chat 7 message 3"
    assert describe_value(b"\x00junk") == describe_value(b"[1]") == describe_value(b'{"payload": 3}') == "-"
    assert render_value(b'{"a": 1}') == '{\n  "a": 1\n}' and render_value(b"\xff") == "b'\\xff'"


def test_dlq_needs_a_broker():
    result = CliRunner().invoke(app, ["dlq", "list"], env={"TGPIPE_KAFKA_BOOTSTRAP_SERVERS": ""})
    assert result.exit_code == 2 and "TGPIPE_KAFKA_BOOTSTRAP_SERVERS must be set" in result.output
