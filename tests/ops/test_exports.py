"""tgpipe.ops.exports: an export opened with the settings and counted as it streams by."""

from __future__ import annotations

import shutil
import subprocess
import sys

from tests.support.factories import two_exports
from tgpipe.ops.exports import ExportTally, expected_counts, export_identity, open_export
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


def test_an_export_is_identified_by_its_content_and_reading_options_not_its_path(tmp_path):
    """Resuming keys on this: a moved copy is the same export; another file at the same path, or the
    same file read in another zone or as observed at another time, is not."""
    newer, older = two_exports(tmp_path)
    identity = export_identity(open_export(newer, Settings()))
    assert len(identity) == 64
    assert export_identity(open_export(shutil.copytree(newer, tmp_path / "moved"), Settings())) == identity
    assert export_identity(open_export(newer, Settings(export_timezone="Etc/GMT-1"))) != identity
    later = Settings(export_observed_at="2030-01-01T00:00:00Z")
    assert export_identity(open_export(newer, later)) != identity
    shutil.copyfile(older / "result.json", newer / "result.json")
    assert export_identity(open_export(newer, Settings())) != identity
