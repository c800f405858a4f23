"""Consumer-group changes under a live stream: a writer joins, a writer is killed."""

from __future__ import annotations

import asyncio
import signal

import pytest

from tests.faults.harness import keys_of, paced_publish, publish, run_until, text_payloads
from tests.support.processes import Fault, OFFSET_COMMIT, PUBLISH_COMMITTED, service_process
from tests.support.waiting import eventually, persisted
from tgpipe.runtime.inprocess import running_services
from tgpipe.runtime.progress import ProgressTracker

pytestmark = pytest.mark.faults


async def test_contract_W6_writer_joining_mid_stream_no_gap_no_duplicate(fault_settings, db, checker):
    settings, payloads = fault_settings, text_payloads(300, channels=12)  # every partition gets traffic
    async with running_services(settings, ProgressTracker(), media=False) as collector:  # writer A
        stream = asyncio.create_task(paced_publish(settings, checker, payloads, collector))
        await asyncio.sleep(1.0)
        async with running_services(settings, ProgressTracker(), media=False):  # writer B joins
            await asyncio.wait_for(stream, 60)
            await eventually(persisted(db, 300), 60, "300 messages persisted")
    report = await checker.check(settings, db)
    assert report.problems() == []  # clean join and leave: no gap, no committed event twice


async def test_contract_W6_writer_killed_mid_stream_no_gap(fault_settings, db, tmp_path, checker):
    settings, payloads = fault_settings, text_payloads(300, channels=12)  # every partition gets traffic
    kill = Fault(OFFSET_COMMIT, nth=3)  # writer A dies mid-stream, before committing its 3rd batch
    async with service_process(settings, tmp_path / "writer-a.log", fault=kill) as writer_a:
        await writer_a.wait_for_log("assigned to partitions", timeout=60)
        async with running_services(settings, ProgressTracker(), media=False) as collector:  # writer B joins
            stream = asyncio.create_task(paced_publish(settings, checker, payloads, collector))
            assert await writer_a.wait(timeout=60) == -9, writer_a.log()
            await asyncio.wait_for(stream, 60)
            await eventually(persisted(db, 300), 60, "300 messages persisted")
    await run_until(settings, db, keys_of(payloads), media=False)  # nothing left behind
    report = await checker.check(settings, db)
    assert report.problems(allow_committed_duplicates=True) == []  # no gap; duplicates allowed here
    assert report.committed_duplicates  # the killed batch was redelivered to writer B


async def test_contract_W6_writer_joining_during_a_slow_batch_waits_for_it(fault_settings, db, tmp_path, checker):
    settings, payloads = fault_settings, text_payloads(60, channels=12)
    await publish(settings, checker, payloads, source="w6-slow")
    # Writer A's second batch takes 5 s (paused after its commit, before its committed events);
    # writer B joins meanwhile. The rebalance must wait for A's batch and its offset commit, or
    # B would get partitions whose offsets A could no longer commit, and redo A's batch.
    slow = Fault(PUBLISH_COMMITTED, nth=2, action="pause", seconds=5.0)
    async with service_process(settings, tmp_path / "writer-a.log", fault=slow) as writer_a:
        await writer_a.wait_for_log(f"fault: pause at call 2 of {PUBLISH_COMMITTED}", timeout=60)
        async with running_services(settings, ProgressTracker(), media=False):  # writer B
            await eventually(persisted(db, 60), 60, "60 messages persisted")
            writer_a.signal(signal.SIGTERM)
            assert await writer_a.wait(timeout=30) == 0, writer_a.log()
    assert "rebalance: finishing the batch in flight" in writer_a.log()  # B joined during the slow batch
    report = await checker.check(settings, db)
    assert report.problems() == []  # no committed event twice: a clean join redoes nothing
