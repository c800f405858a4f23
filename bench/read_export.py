"""Measure the export reader alone: messages/s and the process's peak RSS reading an export.

``python -m bench.read_export DIR [--timezone ZONE]`` reads ``DIR/result.json`` with the
collector's :class:`~services.collector.export.ExportReader` (its survey, then every payload mapped,
nothing published) and prints one JSON object: ``messages``, ``bytes`` (of ``result.json``),
``survey_s`` and ``payloads_s`` (wall clock), ``messages_per_s`` (over both walks) and
``max_rss_mb`` (``getrusage`` of this process: interpreter and imports included).

Not a test: tests never assert on time. Make a large export with ``bench/generate_export.py``.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from services.collector.export import ExportReader


def measure(folder: Path, timezone: str | None) -> dict[str, float]:
    """Read the export at ``folder`` once through; the numbers described in the module docstring.

    Raises:
        ExportError: the export cannot be read.
    """
    started = time.monotonic()
    reader = ExportReader(folder, timezone=ZoneInfo(timezone) if timezone else None)
    surveyed = time.monotonic()
    messages = sum(1 for _ in reader.payloads())
    done = time.monotonic()
    return {"messages": messages, "bytes": reader.file.stat().st_size, "survey_s": round(surveyed - started, 1),
            "payloads_s": round(done - surveyed, 1), "messages_per_s": round(messages / (done - started)),
            "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("export", type=Path, help="the export folder (or its result.json)")
    parser.add_argument("--timezone", default=None, help="zone of dates without date_unixtime (e.g. UTC)")
    args = parser.parse_args()
    print(json.dumps(measure(args.export, args.timezone)))


if __name__ == "__main__":
    main()
