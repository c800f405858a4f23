"""A bug in our code never drains a topic; a partition that does not move is seen (contract E7, E8).

The writer runs as deployed (``tgpipe writer``, configured by ``TGPIPE_*`` only) with a bug
injected into its real code (``injector/sitecustomize.py``, action ``raise``): every batch raises
``AttributeError``, as a bad deploy would.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.records import peek
from tests.faults.harness import committed_offsets, publish, text_payloads
from tests.support.processes import WRITE_BATCH
from tests.support.processes import Fault, service_process
from tests.support.waiting import eventually, persisted
from tests.runtime.test_observability import free_port, scrape, total, wait_status

pytestmark = pytest.mark.faults


def _http(settings, tmp_path: Path, **more):
    return settings.model_copy(update={"metrics_port": free_port(), "readiness_file": tmp_path / "ready.json",
                                       **more})


async def test_contract_E7_a_bug_in_the_writer_dead_letters_nothing_commits_nothing_and_turns_unready(
        fault_settings, db, checker, tmp_path):
    # Retries give up after 1 s, so the batch is sought back and redelivered again and again;
    # after 2 s without an offset commit the partition is stalled.
    settings = _http(fault_settings, tmp_path, transient_retry_timeout_s=1.0, stall_timeout_s=2.0)
    port = settings.metrics_port
    payloads = text_payloads(20, channels=1)  # one chat: one partition
    bug = Fault(WRITE_BATCH, action="raise", error="AttributeError")
    async with service_process(settings, tmp_path / "writer.log", fault=bug) as writer:
        await wait_status(port, "/health/ready", 200)
        await publish(settings, checker, payloads, source="bad-deploy")
        await writer.wait_for_log(f"fault: raise at call 1 of {WRITE_BATCH}", 60)
        await eventually(lambda: writer.log().count("(attempt 2)") >= 2, 60,
                         "the batch given up on, redelivered and retried again")
        stalled = await wait_status(port, "/health/ready", 503, timeout=30)
        (partition,) = {r.partition for r in await peek(settings, settings.topic_messages)}
        assert stalled["state"] == "stalled", stalled
        assert f"{settings.topic_messages}[{partition}] (group {settings.writer_group})" in stalled["detail"]
        assert json.loads(settings.readiness_file.read_text())["state"] == "stalled"
        assert total(await scrape(port), "tgpipe_stalled_partitions") == 1
        assert "AttributeError: injected AttributeError" in writer.log()  # the bug is in the log

        # Nothing dead-lettered, no offset committed, nothing written; the process is still alive.
        assert await peek(settings, settings.topic_dead_letter) == []
        offsets = await committed_offsets(settings, settings.writer_group, settings.topic_messages)
        assert set(offsets.values()) == {None}, offsets
        async with db.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM messages") == 0
        assert writer.process and writer.process.returncode is None

    # The fix deployed: the same topic, the same group, no bug. Everything lands.
    async with service_process(settings, tmp_path / "writer-fixed.log") as writer:
        await eventually(persisted(db, 20), 60, "the 20 messages persisted after the fix")
        ready = await wait_status(port, "/health/ready", 200)
        assert ready["state"] == "ready"
        assert total(await scrape(port), "tgpipe_stalled_partitions") == 0
    report = await checker.check(settings, db)
    assert report.problems() == []  # nothing lost, nothing dead-lettered, every committed event once


async def test_contract_E8_a_partition_without_offset_commits_makes_readiness_fail_until_it_moves(
        fault_settings, db, checker, tmp_path):
    # The first batch's transaction hangs for 20 s (a lock, a slow disk...): no offset commit.
    settings = _http(fault_settings, tmp_path, stall_timeout_s=1.0)
    port = settings.metrics_port
    slow = Fault(WRITE_BATCH, action="pause", seconds=20.0)
    async with service_process(settings, tmp_path / "writer.log", fault=slow) as writer:
        await wait_status(port, "/health/ready", 200)
        assert total(await scrape(port), "tgpipe_stalled_partitions") == 0
        await publish(settings, checker, text_payloads(5, channels=1), source="slow")
        await writer.wait_for_log(f"fault: pause at call 1 of {WRITE_BATCH}", 60)
        stalled = await wait_status(port, "/health/ready", 503, timeout=15)
        assert stalled["state"] == "stalled" and settings.topic_messages in stalled["detail"], stalled
        assert json.loads(settings.readiness_file.read_text())["state"] == "stalled"
        samples = await scrape(port)
        assert total(samples, "tgpipe_stalled_partitions") == 1
        assert total(samples, "tgpipe_uncommitted_seconds", topic=settings.topic_messages) > 1.0

        # The batch goes through after the pause: offsets committed, ready again, nothing in hand.
        await eventually(persisted(db, 5), 60, "the 5 messages persisted after the pause")
        ready = await wait_status(port, "/health/ready", 200, timeout=30)
        assert ready["state"] == "ready"
        samples = await scrape(port)
        assert total(samples, "tgpipe_stalled_partitions") == 0
        assert not [key for key in samples if key[0] == "tgpipe_uncommitted_seconds"]
    report = await checker.check(settings, db)
    assert report.problems() == []
