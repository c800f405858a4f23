"""Where the collector's CPU goes reading and publishing an export: microseconds of this process's CPU
per message for each step (CPU time, not wall time: the machine is shared).

    ./dev python -m bench.collector_costs DIR [--timezone UTC] [--publish]

``DIR`` is an export folder (make a large one with ``bench/generate_export.py``). Each step is one
pass over the whole export, the later ones including the earlier, so each step's cost is a
difference:

* ``parse``: one walk of ``result.json`` (:class:`~services.collector.export_layout.ExportWalk`:
  the streaming JSON decoder, every entry decoded, nothing mapped);
* ``survey``: :class:`~services.collector.export.ExportReader`'s constructor (that walk, and the
  newest date of every entry);
* ``payloads``: :meth:`ExportReader.payloads` (the second walk, scrubbing, mapping and pydantic
  validation of every payload);
* ``envelope`` and ``encode``: ``MessageUpserted(...)`` and ``encode_event`` of each payload, timed
  around those calls alone;
* ``publish`` (with ``--publish``): ``tgpipe collector export``'s work, the constructor and
  :func:`~services.collector.publish.publish_export` to an embedded Tansu broker started for the
  run (memory storage), with its rate in messages per wall-clock second.

Prints one JSON object. Not a test: tests never assert on time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

from schemas import MessageUpserted, encode_event
from services.collector.export import ExportReader
from services.collector.export_layout import ExportWalk
from services.collector.publish import publish_export
from tgpipe.kafka.broker import ensure_topics, make_broker
from tgpipe.runtime.embedded import TansuBroker
from tgpipe.settings import Settings


def _cpu_us(fn: Callable[[], object]) -> float:
    started = time.process_time()
    fn()
    return (time.process_time() - started) * 1e6


def steps(folder: Path, zone: ZoneInfo | None) -> dict[str, float]:
    """CPU µs per message of ``parse``, ``survey``, ``payloads``, ``envelope``, ``encode`` (see the
    module docstring), and ``messages``.

    Raises:
        ExportError: the export cannot be read.
    """
    reader = ExportReader(folder, timezone=zone)
    parse = _cpu_us(lambda: sum(1 for _ in ExportWalk(reader.file).entries()))
    survey = _cpu_us(lambda: ExportReader(folder, timezone=zone))
    messages = 0
    envelope = encode = 0.0

    def walk_payloads() -> None:
        nonlocal messages
        messages = sum(1 for _ in reader.payloads())

    payloads = _cpu_us(walk_payloads)
    for seq, payload in enumerate(reader.payloads()):
        started = time.process_time()
        event = MessageUpserted(source="bench", seq=seq, payload=payload)
        built = time.process_time()
        encode_event(event)
        envelope, encode = envelope + built - started, encode + time.process_time() - built
    per = 1 / messages
    return {"messages": messages, "parse": parse * per, "survey": (survey - parse) * per,
            "payloads": (payloads - parse) * per, "envelope": envelope * 1e6 * per, "encode": encode * 1e6 * per}


async def publish(folder: Path, zone: ZoneInfo | None) -> dict[str, float]:
    """Read the export and publish it to a fresh embedded Tansu broker, as ``tgpipe collector export``
    does: ``messages``, CPU µs per message of this process (``cpu``), ``msg_per_s`` (wall clock,
    from the constructor to the last acknowledgement).

    Raises:
        EmbeddedError: Tansu cannot start.
    """
    with tempfile.TemporaryDirectory() as logs:
        tansu = TansuBroker(Path(logs))
        try:
            settings = Settings(kafka_bootstrap_servers=tansu.start(), kafka_enable_idempotence=False)
            await ensure_topics(settings)
            broker = make_broker(settings, client_id="bench-collector")
            await broker.start()
            try:
                wall, cpu = time.monotonic(), time.process_time()
                reader = ExportReader(folder, timezone=zone)
                sent, _ = await publish_export(broker, settings, reader.payloads(), source="export:bench")
                wall, cpu = time.monotonic() - wall, time.process_time() - cpu
            finally:
                await broker.stop()
        finally:
            tansu.stop()
    return {"messages": sent, "cpu": cpu * 1e6 / sent, "msg_per_s": sent / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("export", type=Path, help="the export folder (or its result.json)")
    parser.add_argument("--timezone", default=None, help="zone of dates without date_unixtime (e.g. UTC)")
    parser.add_argument("--publish", action="store_true", help="also publish it to an embedded Tansu")
    parser.add_argument("--no-steps", action="store_true", help="only the publish run")
    args = parser.parse_args()
    zone = ZoneInfo(args.timezone) if args.timezone else None
    out: dict[str, float] = {} if args.no_steps else steps(args.export, zone)
    if args.publish:
        out |= {f"publish_{k}": v for k, v in asyncio.run(publish(args.export, zone)).items()}
    print(json.dumps({k: round(v, 1) for k, v in out.items()}))


if __name__ == "__main__":
    main()
