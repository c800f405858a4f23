"""The streaming export reader's memory does not grow with the export (issue 14), measured with
tracemalloc (allocations of Python objects), never with time.

The export is made by bench/generate_export.py (real entries of the shared exports, renumbered):
200,000 messages in three chats, about 190 MB, which ``json.load`` would hold several times over.
Tracing makes every allocation slow, so the mapping pass is traced for its first 20,000 payloads;
the first pass (the survey) decodes every entry of the file under tracing.

The reading is measured in a fresh interpreter: tracemalloc counts every thread and every
allocation of its process, and inside the whole suite the session's threads and long-lived
objects (with garbage left for rare full collections) moved the readings by several MB."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.generate_export import generate

MIB = 1024 * 1024

#: Run in a fresh interpreter: read the export at argv[1]; print the peaks and what is held.
MEASURE = """
import gc, itertools, json, sys, tracemalloc
from pathlib import Path
from zoneinfo import ZoneInfo
from services.collector.export import ExportReader

tracemalloc.start()
reader = ExportReader(Path(sys.argv[1]), timezone=ZoneInfo("UTC"))  # decodes every entry of the file
_, survey_peak = tracemalloc.get_traced_memory()
tracemalloc.reset_peak()
payloads = reader.payloads()
for _ in itertools.islice(payloads, 10_000):
    pass
gc.collect()
held_at_10k, _ = tracemalloc.get_traced_memory()
for _ in itertools.islice(payloads, 10_000):
    pass
_, payloads_peak = tracemalloc.get_traced_memory()
gc.collect()
held_at_20k, _ = tracemalloc.get_traced_memory()
print(json.dumps({"entries": reader.entries, "problems": len(reader.problems), "survey_peak": survey_peak,
                  "payloads_peak": payloads_peak, "held_at_10k": held_at_10k, "held_at_20k": held_at_20k}))
"""


def test_reading_an_export_of_200k_messages_holds_megabytes_not_the_file(shared_data, tmp_path):
    file = generate(tmp_path / "export", 200_000, layout="account", chats=3, seed=5, data_dir=shared_data)
    assert file.stat().st_size > 150 * MIB
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", MEASURE, str(file.parent)], cwd=root, capture_output=True,
                          text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout)
    assert measured["entries"] == 200_000 and measured["problems"] == 0
    assert measured["survey_peak"] < 16 * MIB, measured
    assert measured["payloads_peak"] < 16 * MIB, measured
    # 10,000 more payloads (about 9 MB of JSON) leave next to nothing behind (8 bytes an id to find duplicates).
    assert measured["held_at_20k"] - measured["held_at_10k"] < MIB, measured
