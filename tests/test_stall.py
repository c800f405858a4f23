"""Stall detection (:mod:`tgpipe.stall`, contract line E8) on a clock the test turns."""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka import TopicPartition

from tgpipe.metrics import REGISTRY
from tgpipe.readiness import Readiness
from tgpipe.stall import StallWatch, watch_stalls

A, B = ("writer", "tgpipe.messages", 0), ("writer", "tgpipe.messages", 1)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_contract_E8_a_redelivered_batch_keeps_its_first_arrival_until_a_commit():
    clock = Clock()
    watch = StallWatch(clock)
    watch.received([A])
    clock.now += 40
    watch.received([A, B])  # the same batch redelivered (A), and B's first records
    clock.now += 30
    assert watch.ages() == {A: 70.0, B: 30.0}
    assert watch.stalled(60) == {A: 70.0}
    watch.committed([A])  # the offset moved past A's records: A has no work in hand
    assert watch.ages() == {B: 30.0}
    watch.revoked("writer", [TopicPartition("tgpipe.messages", 1)])  # B went to another member
    watch.revoked("media", [TopicPartition("tgpipe.messages", 0)])  # another group's: nothing of ours
    assert watch.ages() == {}
    watch.received([A])  # new records after the commit start a new wait
    clock.now += 5
    assert watch.ages() == {A: 5.0}
    family, = watch.collect()
    assert [(s.labels, s.value) for s in family.samples] == [
        ({"group": "writer", "topic": "tgpipe.messages", "partition": "0"}, 5.0)]


async def test_contract_E8_readiness_is_stalled_while_a_partition_is_and_ready_after(tmp_path):
    clock = Clock()
    watch = StallWatch(clock)
    readiness = Readiness(tmp_path / "ready.json")
    readiness.set("ready")
    watcher = asyncio.create_task(watch_stalls(readiness, timeout_s=0.04, watch=watch))
    try:
        watch.received([A])
        clock.now += 0.05
        async with asyncio.timeout(10):
            while readiness.state != "stalled":
                await asyncio.sleep(0.005)
        assert readiness.detail == ("no offset commit for over 0.04 s with records in hand: "
                                    "tgpipe.messages[0] (group writer)")
        assert '"state": "stalled"' in (tmp_path / "ready.json").read_text()
        watch.committed([A])
        async with asyncio.timeout(10):
            while readiness.state != "ready":
                await asyncio.sleep(0.005)
        assert REGISTRY.get_sample_value("tgpipe_stalled_partitions") == 0
        readiness.set("stopping")  # shutting down: the watcher leaves the state alone
        watch.received([A])
        clock.now += 1
        async with asyncio.timeout(10):  # the watcher has seen the stall...
            while REGISTRY.get_sample_value("tgpipe_stalled_partitions") != 1:
                await asyncio.sleep(0.005)
        assert readiness.state == "stopping"  # ...and left the state alone
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
