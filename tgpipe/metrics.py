"""tgpipe's own Prometheus metrics and the progress of the batch loop (for liveness).

FastStream's ``KafkaPrometheusMiddleware`` (installed by :mod:`tgpipe.runtime.service` on a service's
broker) counts records and batches consumed and published and times them; what it cannot know
is here, in one registry (:data:`REGISTRY`) that :mod:`tgpipe.runtime.health` serves beside FastStream's:

* ``tgpipe_dead_letters_total{topic, error_class}``: records sent to the dead-letter topic;
* ``tgpipe_batch_records{topic}``: records per consumed batch (histogram);
* ``tgpipe_db_transaction_seconds{service}``: the writer's batch transaction, the media
  service's upsert (histogram);
* ``tgpipe_media_items_total{status}``: media rows written by outcome (``stored``, ``missing``,
  ``failed``…); ``tgpipe_media_stored_bytes_total``: bytes newly written to the content store
  (counted by :class:`services.media.store.ContentStore` when a blob is created: a file shared by
  several media rows, or stored again by a replay, counts once; refused files never count);
* ``tgpipe_consumer_lag_records{group, topic, partition}``: high watermark minus position of
  each assigned partition, computed client-side at scrape time (:func:`refresh_lag`). On the
  local Tansu broker high watermarks are wrong, and so is this lag;
* ``tgpipe_seconds_since_last_processed{topic, channel}``: per chat (the label keeps its name
  ``channel``: dashboards query it), since a batch holding a decodable event of it was last done
  (undecodable records, which name no chat, do not count);
* ``tgpipe_batch_in_flight_seconds{topic}``: age of the oldest batch in flight (0 when idle);
* ``tgpipe_uncommitted_seconds{group, topic, partition}`` and ``tgpipe_stalled_partitions``:
  stall detection, kept by :mod:`tgpipe.stall` in this registry.

The metrics are module-level (one process runs one service when deployed; ``tgpipe archive``
and ``replay`` run several in one process and simply add up).
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

REGISTRY = CollectorRegistry()

DEAD_LETTERS = Counter("tgpipe_dead_letters", "Records sent to the dead-letter topic, by source topic and "
                       "error class.", ["topic", "error_class"], registry=REGISTRY)
BATCH_RECORDS = Histogram("tgpipe_batch_records", "Records per consumed batch.", ["topic"], registry=REGISTRY,
                          buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000))
DB_TRANSACTION = Histogram("tgpipe_db_transaction_seconds", "Database transaction latency per batch: the "
                           "writer's write, the media service's upsert.", ["service"], registry=REGISTRY,
                           buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
MEDIA_ITEMS = Counter("tgpipe_media_items", "Media rows written by the media service, by status.", ["status"],
                      registry=REGISTRY)
MEDIA_STORED_BYTES = Counter("tgpipe_media_stored_bytes", "Bytes newly written to the media content store "
                             "(a file already stored is not counted again).", registry=REGISTRY)
CONSUMER_LAG = Gauge("tgpipe_consumer_lag_records", "High watermark minus position of each assigned partition "
                     "(client-side; wrong on Tansu, whose end offsets are wrong).",
                     ["group", "topic", "partition"], registry=REGISTRY)


def observe_media(rows: Iterable[Any]) -> None:
    """Count media rows (``MediaRow``) by status (stored bytes are counted by the store)."""
    for row in rows:
        MEDIA_ITEMS.labels(row.status).inc()


class Progress:
    """Batches in flight and, per topic and chat, when an event last went through.

    A consumer whose batch has been in flight for longer than a threshold is stuck
    (:meth:`stuck`), which the liveness endpoint reports.
    """

    def __init__(self) -> None:
        self._tokens = itertools.count()
        self._in_flight: dict[int, tuple[str, float]] = {}
        self._last: dict[tuple[str, str], float] = {}

    @contextlib.contextmanager
    def batch(self, topic: str) -> Iterator[None]:
        """Mark a batch of ``topic`` in flight for the duration of the block."""
        token = next(self._tokens)
        self._in_flight[token] = (topic, time.monotonic())
        try:
            yield
        finally:
            del self._in_flight[token]

    def processed(self, topic: str, chats: Iterable[str]) -> None:
        """Record that events of ``chats`` (chat ids) on ``topic`` went through just now."""
        now = time.monotonic()
        for chat in chats:
            self._last[(topic, chat)] = now

    def oldest_batch_s(self) -> dict[str, float]:
        """``{topic: age in seconds of its oldest batch in flight}`` (topics with none are absent)."""
        now, ages = time.monotonic(), {}
        for topic, started in self._in_flight.values():
            ages[topic] = max(ages.get(topic, 0.0), now - started)
        return ages

    def stuck(self, threshold_s: float) -> dict[str, float]:
        """The topics whose oldest batch in flight is older than ``threshold_s``, with its age."""
        return {topic: age for topic, age in self.oldest_batch_s().items() if age > threshold_s}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Prometheus collector protocol: the two progress gauges, computed now."""
        now = time.monotonic()
        since = GaugeMetricFamily("tgpipe_seconds_since_last_processed",
                                  "Seconds since an event of the chat last went through a batch.",
                                  labels=["topic", "channel"])
        for (topic, chat), at in sorted(self._last.items()):
            since.add_metric([topic, chat], now - at)
        yield since
        in_flight = GaugeMetricFamily("tgpipe_batch_in_flight_seconds",
                                      "Age of the oldest batch in flight per topic (absent when idle).",
                                      labels=["topic"])
        for topic, age in sorted(self.oldest_batch_s().items()):
            in_flight.add_metric([topic], age)
        yield in_flight


PROGRESS = Progress()
REGISTRY.register(PROGRESS)


async def refresh_lag(broker: Any) -> None:
    """Set :data:`CONSUMER_LAG` for every partition assigned to ``broker``'s running consumers.

    Lag is ``consumer.highwater(tp) - await consumer.position(tp)``, both from the client (the
    high watermark of the last fetch response); a partition whose high watermark is not known
    yet is left out. Partitions no longer assigned are removed.
    """
    CONSUMER_LAG.clear()
    for subscriber in broker.subscribers:
        consumer = getattr(subscriber, "consumer", None)
        if consumer is None:
            continue
        group = getattr(subscriber, "group_id", None) or ""
        for tp in list(consumer.assignment()):
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            try:
                position = await consumer.position(tp)
            except Exception:  # noqa: BLE001 - the assignment changed meanwhile; next scrape
                continue
            CONSUMER_LAG.labels(group, tp.topic, str(tp.partition)).set(max(highwater - position, 0))
