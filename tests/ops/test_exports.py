"""tgpipe.ops.exports: an export opened with the settings and counted as it streams by."""

from __future__ import annotations

import subprocess
import sys

from tgpipe.ops.exports import ExportTally, expected_counts, open_export
from tgpipe.settings import Settings


def test_counts_of_the_real_channel_export_match_its_readme(shared_data):
    export = shared_data / "trantor-library-channel"
    counts = expected_counts(export, Settings())
    assert (dict(counts.messages), dict(counts.photos)) == ({1878264527: 924}, {1878264527: 484})
    tally = ExportTally()
    assert sum(1 for _ in tally.count(open_export(export, Settings()).payloads())) == 924
    assert tally.finished and tally.kinds == {"message": 908, "service": 16}


def test_reading_an_export_does_not_import_the_services_of_archive():
    """`tgpipe collector export` and `verify --export` import this module, not tgpipe.ops.archive:
    the writer, the media service and Telethon cost about 50 MB of resident memory."""
    code = "import sys, tgpipe.ops.exports; print(sorted({'telethon', 'services.writer', 'services.media'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
