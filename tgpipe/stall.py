"""Stall detection: partitions whose records are in hand while their offsets are not committed.

The batch loop (:mod:`tgpipe.kafka.consume`) tells :data:`STALLS` when a batch's records arrive
(:meth:`StallWatch.received`) and when their offsets are committed (:meth:`StallWatch.committed`);
its rebalance listener tells it when partitions are revoked. Per ``(group, topic, partition)`` it
keeps the time records past the committed offset were *first* received: a batch that fails and
is redelivered again and again (a bug in our code, a fault of the setup, an outage) keeps its
first time, so its age grows until a commit moves the offset. A partition whose age exceeds
``TGPIPE_STALL_TIMEOUT_S`` is stalled: :func:`watch_stalls` turns the service's readiness to
``stalled`` (so ``/health/ready`` and the readiness file fail) and back to ``ready`` once the
offsets move.

Metrics (registered in :data:`tgpipe.metrics.REGISTRY`):

* ``tgpipe_uncommitted_seconds{group, topic, partition}``: age of the records in hand past the
  committed offset (absent when there are none);
* ``tgpipe_stalled_partitions``: how many partitions are stalled (0 when none; alert on > 0).

Only records in hand count as work: end offsets are never read, because the local Tansu broker
reports them wrong, so detection works the same on Tansu and on Apache Kafka. What it cannot see
is a consumer that receives nothing at all (no fetch answers); on Apache Kafka the lag gauge
``tgpipe_consumer_lag_records`` shows that, on Tansu nothing does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import Gauge
from prometheus_client.core import GaugeMetricFamily

from tgpipe.metrics import REGISTRY
from tgpipe.readiness import Readiness

Partition = tuple[str, str, int]  # (consumer group, topic, partition)

STALLED_PARTITIONS = Gauge("tgpipe_stalled_partitions", "Partitions whose records have been in hand for longer "
                           "than TGPIPE_STALL_TIMEOUT_S without an offset commit.", registry=REGISTRY)


class StallWatch:
    """Per partition, since when records past its committed offset have been in hand (``clock``
    seconds, monotonic by default)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._since: dict[Partition, float] = {}

    def received(self, partitions: Iterable[Partition]) -> None:
        """Records of ``partitions`` arrived; the first arrival since the last commit counts."""
        now = self._clock()
        for partition in partitions:
            self._since.setdefault(partition, now)

    def committed(self, partitions: Iterable[Partition]) -> None:
        """The offsets of ``partitions`` were committed past the records in hand."""
        for partition in partitions:
            self._since.pop(partition, None)

    def revoked(self, group: str, topic_partitions: Iterable[object]) -> None:
        """A rebalance took these aiokafka ``TopicPartition`` s from this member of ``group``."""
        self.committed((group, tp.topic, tp.partition) for tp in topic_partitions)  # type: ignore[attr-defined]

    def ages(self) -> dict[Partition, float]:
        """``{partition: seconds since its records in hand were first received}``."""
        now = self._clock()
        return {partition: now - since for partition, since in self._since.items()}

    def stalled(self, timeout_s: float) -> dict[Partition, float]:
        """The partitions whose records in hand are older than ``timeout_s``, with their age."""
        return {partition: age for partition, age in self.ages().items() if age > timeout_s}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Prometheus collector protocol: ``tgpipe_uncommitted_seconds``, computed now."""
        family = GaugeMetricFamily("tgpipe_uncommitted_seconds", "Seconds since records past the committed "
                                   "offset were first received (absent when none are in hand).",
                                   labels=["group", "topic", "partition"])
        for (group, topic, partition), age in sorted(self.ages().items()):
            family.add_metric([group, topic, str(partition)], age)
        yield family


STALLS = StallWatch()
REGISTRY.register(STALLS)


def describe(stalled: dict[Partition, float], timeout_s: float) -> str:
    """One line naming the stalled partitions, for the readiness detail."""
    names = ", ".join(f"{topic}[{partition}] (group {group})" for group, topic, partition in sorted(stalled))
    return f"no offset commit for over {timeout_s:g} s with records in hand: {names}"


async def watch_stalls(readiness: Readiness, timeout_s: float, watch: StallWatch = STALLS) -> None:
    """Until cancelled: while a partition is stalled, readiness is ``stalled`` (the detail names the
    partitions); once none is, ``ready`` again. Other states (``waiting``, ``stopping``…) are left
    alone. Checks every ``timeout_s / 4`` seconds, at most every second."""
    interval = min(1.0, timeout_s / 4)
    while True:
        stalled = watch.stalled(timeout_s)
        STALLED_PARTITIONS.set(len(stalled))
        if readiness.state in ("ready", "stalled") and stalled:
            readiness.set("stalled", describe(stalled, timeout_s))
        elif readiness.state == "stalled":
            readiness.set("ready")
        await asyncio.sleep(interval)
