"""The streaming export reader's memory does not grow with the export (issue 14), measured with
tracemalloc (allocations of Python objects), never with time.

The export is made by bench/generate_export.py (real entries of the shared exports, renumbered):
200,000 messages in three chats, about 190 MB, which ``json.load`` would hold several times over.
Tracing makes every allocation slow, so the mapping pass is traced for its first 20,000 payloads;
the first pass (the survey) decodes every entry of the file under tracing."""

from __future__ import annotations

import gc
import itertools
import tracemalloc
from zoneinfo import ZoneInfo

from bench.generate_export import generate
from services.collector.export import ExportReader

MIB = 1024 * 1024
#: tracemalloc counts every thread of the test process: 11.5 MiB was measured with this test alone,
#: 18.5 MiB inside the whole suite (the session's fixtures keep threads and caches alive). Either
#: is a tenth of the 190 MB file, which ``json.load`` would hold several times over.
BOUND = 32 * MIB


def test_reading_an_export_of_200k_messages_holds_megabytes_not_the_file(shared_data, tmp_path):
    file = generate(tmp_path / "export", 200_000, layout="account", chats=3, seed=5, data_dir=shared_data)
    assert file.stat().st_size > 150 * MIB
    tracemalloc.start()
    try:
        reader = ExportReader(file.parent, timezone=ZoneInfo("UTC"))  # decodes every entry of the file
        _, survey_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        payloads = reader.payloads()
        for _ in itertools.islice(payloads, 10_000):
            pass
        gc.collect()  # what is held, not garbage awaiting a collection (rare in a long test session)
        held_at_10k, _ = tracemalloc.get_traced_memory()
        for _ in itertools.islice(payloads, 10_000):
            pass
        _, payloads_peak = tracemalloc.get_traced_memory()
        gc.collect()
        held_at_20k, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reader.entries == 200_000 and reader.problems == []
    assert survey_peak < BOUND, survey_peak
    assert payloads_peak < BOUND, payloads_peak
    # 10,000 more payloads (about 9 MB of JSON) leave next to nothing behind (8 bytes an id to find duplicates).
    assert held_at_20k - held_at_10k < MIB, (held_at_10k, held_at_20k)
