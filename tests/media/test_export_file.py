"""Export media reads: only under allowed roots, only regular files, capped, streamed, no orphan blob.

Real files throughout (``/etc``, ``/dev``, ``/proc``, FIFOs, sparse files, symlinks); the audit
hook of :func:`tests.media.support.opened_files` sees every path the process opens. A test that
would hang or exhaust memory on a broken reader runs its reads in a thread with a bound, or in a
subprocess with an address-space limit.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path

import pytest

from schemas.vocabulary import MediaKind
from services.media import export_file
from tests.media.support import JPEG, Export, opened_files, rows_for
from tgpipe.metrics import REGISTRY, observe_media
from tgpipe.settings import MEDIA_MAX_BYTES_DEFAULT, Settings

REPO = Path(__file__).resolve().parents[2]
HOSTILE = [("/etc", "passwd"), ("/root", ".bashrc"), ("/etc", "shadow")]


@pytest.fixture
def export(tmp_path: Path) -> Export:
    return Export.create(tmp_path)


def _outside(tmp_path: Path) -> Path:
    """``tmp_path/outside/photos/good.jpg``: an image beside the allowed root, never to be read."""
    photos = tmp_path / "outside" / "photos"
    photos.mkdir(parents=True)
    (photos / "good.jpg").write_bytes(JPEG + b"outside")
    return photos.parent


# --------------------------------------------------------------------------- M5: allowed export roots


@pytest.mark.parametrize("kind", ["photo", "document"])
@pytest.mark.parametrize("export_root, path", HOSTILE)
def test_contract_M5_export_root_outside_the_allowed_roots_is_never_opened(export, caplog, export_root, path,
                                                                            kind):
    caplog.set_level(logging.DEBUG)
    with opened_files() as opened:
        (row,) = rows_for([export.ref(path, kind, export_root)], export.settings())
    assert row.status == "export_root_not_allowed"
    assert row.error == (f"export root {export_root!r} is not under an allowed root "
                         "(TGPIPE_MEDIA_EXPORT_ROOTS)")
    assert (row.sha256, row.size_bytes) == (None, None)
    assert [p for p in opened if p.startswith(export_root)] == []
    assert export.stored_files() == []
    assert "root:" not in caplog.text


def test_contract_M5_no_allowed_root_refuses_every_export_file(export, caplog):
    assert Settings().media_export_roots == ()  # the default: nothing is read from exports
    with opened_files() as opened:
        (row,) = rows_for([export.ref("photos/good.jpg")], export.settings(media_export_roots=()))
    assert row.status == "export_root_not_allowed"
    assert row.error == ("export media are not read: no allowed export root "
                         "(TGPIPE_MEDIA_EXPORT_ROOTS is empty)")
    assert caplog.messages == ["1 export media item(s) refused, nothing opened: their export root is not "
                               "under TGPIPE_MEDIA_EXPORT_ROOTS (empty: no export is read)"]
    assert not [p for p in opened if "good.jpg" in p] and export.stored_files() == []


def test_contract_M5_symlinks_are_resolved_before_the_root_check(export, tmp_path):
    outside = _outside(tmp_path)
    (export.allowed / "etc-link").symlink_to("/etc")
    (export.allowed / "outside-link").symlink_to(outside)
    (export.root / "photos" / "escape.jpg").symlink_to(outside / "photos" / "good.jpg")
    (export.root / "linkdir").symlink_to(outside)
    refs = [export.ref("passwd", "document", export.allowed / "etc-link"),
            export.ref("photos/good.jpg", "photo", export.allowed / "outside-link"),
            export.ref("photos/escape.jpg"), export.ref("linkdir/photos/good.jpg"),
            export.ref("../../outside/photos/good.jpg")]
    with opened_files() as opened:
        rows = rows_for(refs, export.settings())
    assert [r.status for r in rows] == ["export_root_not_allowed"] * 2 + ["outside_export_root"] * 3
    assert all(r.size_bytes is None and r.sha256 is None for r in rows)
    assert [p for p in opened if Path(p).resolve().is_relative_to(outside) or p.startswith("/etc")] == []
    assert export.stored_files() == []


def test_an_export_anywhere_under_an_allowed_root_is_read(export, tmp_path):
    link = tmp_path / "exports-link"
    link.symlink_to(export.allowed)
    settings = export.settings(media_export_roots=[link])  # resolved when the settings are read
    (row,) = rows_for([export.ref("photos/good.jpg", export_root=link / "chat")], settings)
    assert (row.status, row.size_bytes) == ("stored", len(JPEG))
    assert Path(settings.media_dir, row.sha256[:2], row.sha256[2:4], row.sha256).read_bytes() == JPEG


# ------------------------------------------------------------------ M6: regular files, caps, streaming


def test_contract_M6_a_fifo_is_refused_without_blocking(export):
    fifo = export.root / "photos" / "pipe.jpg"
    os.mkfifo(fifo)
    result: dict = {}
    worker = threading.Thread(target=lambda: result.update(rows=rows_for([export.ref("photos/pipe.jpg")],
                                                                          export.settings(), wait_s=0)),
                              daemon=True)
    worker.start()
    worker.join(timeout=30)
    if worker.is_alive():  # blocked in open(): give it a writer so the test run can end
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(timeout=10)
        pytest.fail("reading a FIFO blocked the media worker thread")
    (row,) = result["rows"]
    assert row.status == "not_regular_file" and "is a FIFO, not a regular file" in row.error
    assert row.size_bytes is None and export.stored_files() == []


# Reads that a reader without limits would never finish (/dev/zero) or finish only by holding
# 5 GiB: run under a 2 GiB address-space limit, so a broken reader dies of MemoryError, not the host.
_BOUNDED = """
import json, resource, sys
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
from tests.media.support import Export, rows_for
export = Export(Path(sys.argv[1]))
settings = export.settings(media_export_roots=[export.allowed, "/dev", "/proc"])
refs = [export.ref("zero", "document", "/dev"), export.ref("zero", "photo", "/dev"),
        export.ref("self/environ", "document", "/proc"), export.ref("huge.pdf", "document"),
        export.ref("photos", "photo")]
print(json.dumps([[r.status, r.error, r.size_bytes, r.sha256] for r in rows_for(refs, settings, wait_s=0)]))
"""


def test_contract_M6_devices_proc_and_huge_files_are_refused_unread_in_bounded_memory(export):
    with open(export.root / "huge.pdf", "wb") as sparse:  # 5 GiB, over the 4 GiB default cap of documents
        sparse.truncate(5 << 30)
    result = subprocess.run([sys.executable, "-c", _BOUNDED, str(export.base)], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads(result.stdout)
    assert [r[0] for r in rows] == ["not_regular_file"] * 3 + ["too_large", "not_regular_file"]
    assert "'zero' is a character device" in rows[0][1]
    assert "kernel pseudo-filesystem" in rows[2][1]
    assert rows[3][1] == "'huge.pdf' is over the 4,294,967,296-byte cap for document (TGPIPE_MEDIA_MAX_BYTES)"
    assert "is a directory" in rows[4][1]
    assert all(size is None and sha is None for _, _, size, sha in rows)
    assert export.stored_files() == []


def test_contract_M6_a_file_over_its_cap_is_too_large_and_leaves_no_blob(export):
    with open(export.root / "photos" / "big.jpg", "wb") as big:  # a JPEG, sparse beyond the 10 MiB photo cap
        big.write(JPEG)
        big.truncate(10 * 1024 * 1024 + 1)
    (row,) = rows_for([export.ref("photos/big.jpg")], export.settings())
    assert row.status == "too_large"
    assert row.error == "'photos/big.jpg' is over the 10,485,760-byte cap for photo (TGPIPE_MEDIA_MAX_BYTES)"
    assert (row.size_bytes, row.sha256) == (None, None) and export.stored_files() == []


def test_contract_M6_a_file_growing_past_its_cap_while_read_leaves_no_blob(export, monkeypatch):
    (export.root / "grows.pdf").write_bytes(b"%PDF" + b"x" * (3 * export_file.CHUNK_BYTES))
    real_fstat = os.fstat

    def size_zero(fd: int) -> os.stat_result:  # the size seen before reading: the file grew since
        st = real_fstat(fd)
        return os.stat_result((st.st_mode, st.st_ino, st.st_dev, st.st_nlink, st.st_uid, st.st_gid, 0,
                               st.st_atime, st.st_mtime, st.st_ctime))

    monkeypatch.setattr(export_file.os, "fstat", size_zero)
    settings = export.settings(media_max_bytes={"document": 2 * export_file.CHUNK_BYTES})
    (row,) = rows_for([export.ref("grows.pdf", "document")], settings)
    assert row.status == "too_large" and row.size_bytes is None
    assert export.stored_files() == []  # the temporary file with the first chunks is gone


def test_contract_M6_large_files_are_streamed_not_held_in_memory(export):
    with open(export.root / "film.pdf", "wb") as sparse:
        sparse.write(b"%PDF")
        sparse.truncate(64 << 20)
    tracemalloc.start()
    try:
        (row,) = rows_for([export.ref("film.pdf", "document")], export.settings())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (row.status, row.size_bytes) == ("stored", 64 << 20)
    assert peak < 8 << 20, f"peak {peak:,} bytes while storing a 64 MiB file"


def test_contract_M6_a_photo_that_is_not_an_image_leaves_nothing_of_its_bytes(export):
    (export.root / "photos" / "text.jpg").write_bytes(b"root:x:0:0:root:/root:/bin/bash\n")
    (export.root / "photos" / "doc.jpg").write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    rows = rows_for([export.ref("photos/text.jpg"), export.ref("photos/doc.jpg")], export.settings())
    assert [(r.status, r.error, r.size_bytes, r.sha256) for r in rows] == [
        ("not_image", "the file is not an image (no known image signature)", None, None),
        ("not_image", "the file is a PDF document, not an image", None, None)]
    assert export.stored_files() == []


@pytest.mark.parametrize("swap", ["folder", "file"])
def test_contract_M6_a_file_swapped_while_being_opened_is_refused(export, tmp_path, monkeypatch, swap):
    outside = _outside(tmp_path)
    photos = export.root / "photos"
    real_open = os.open

    def swapping_open(path, flags, *args, **kwargs):  # after every check, right before the open
        if str(path).endswith("photos/good.jpg"):
            if swap == "folder":
                photos.rename(export.root / "moved")
                photos.symlink_to(outside / "photos")
            else:
                (photos / "good.jpg").unlink()
                (photos / "good.jpg").symlink_to(outside / "photos" / "good.jpg")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(export_file.os, "open", swapping_open)
    (row,) = rows_for([export.ref("photos/good.jpg")], export.settings())
    monkeypatch.undo()
    assert row.status == {"folder": "outside_export_root", "file": "not_regular_file"}[swap], row
    assert row.error.endswith({"folder": "was replaced while being opened; not read",
                               "file": "changed into a symlink while being opened"}[swap])
    assert row.size_bytes is None and export.stored_files() == []


# --------------------------------------------------------------------------- metrics


def _stored_bytes() -> float:
    return REGISTRY.get_sample_value("tgpipe_media_stored_bytes_total") or 0.0


def test_stored_bytes_count_each_new_blob_once(export):
    (export.root / "photos" / "copy.jpg").write_bytes(JPEG)  # the same bytes under another name
    with open(export.root / "photos" / "big.jpg", "wb") as big:
        big.write(JPEG)
        big.truncate(11 << 20)
    refs = [export.ref("photos/good.jpg"), export.ref("photos/copy.jpg"), export.ref("photos/good.jpg"),
            export.ref("photos/big.jpg")]
    before = _stored_bytes()
    rows = rows_for(refs, export.settings())
    observe_media(rows)
    assert [r.status for r in rows] == ["stored"] * 3 + ["too_large"]
    assert _stored_bytes() - before == len(JPEG)  # three rows share one blob; the refused file counts nothing
    observe_media(rows_for(refs, export.settings()))  # stored again (a replay): nothing new is written
    assert _stored_bytes() - before == len(JPEG)



def test_the_allowed_roots_are_resolved_and_never_the_whole_host(tmp_path, monkeypatch):
    (tmp_path / "exports").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "exports")
    both = [str(tmp_path / "link"), str(tmp_path / "exports")]
    monkeypatch.setenv("TGPIPE_MEDIA_EXPORT_ROOTS", json.dumps(both))
    assert Settings().media_export_roots == ((tmp_path / "exports").resolve(),)
    for everything in ("/", "/etc/.."):
        monkeypatch.setenv("TGPIPE_MEDIA_EXPORT_ROOTS", json.dumps([everything]))
        with pytest.raises(ValueError, match="would allow every file of the host"):
            Settings()
    monkeypatch.setenv("TGPIPE_MEDIA_MAX_BYTES", '{"document": 1000}')
    monkeypatch.delenv("TGPIPE_MEDIA_EXPORT_ROOTS")
    assert Settings().media_max_bytes == {**MEDIA_MAX_BYTES_DEFAULT, "document": 1000}
    assert (MEDIA_MAX_BYTES_DEFAULT["photo"], MEDIA_MAX_BYTES_DEFAULT["video_file"]) == (10 << 20, 4 << 30)


@pytest.mark.parametrize("kind", list(MediaKind))
def test_every_media_kind_may_be_downloaded_under_its_own_cap(export, monkeypatch, kind):
    """``video_message`` included: Telegram Desktop exports round videos under that ``media_type``."""
    (export.root / "small.bin").write_bytes(JPEG)
    (export.root / "big.bin").write_bytes(JPEG + b"x" * 100)
    monkeypatch.setenv("TGPIPE_MEDIA_DOWNLOAD_KINDS", json.dumps([kind]))
    monkeypatch.setenv("TGPIPE_MEDIA_MAX_BYTES", json.dumps({kind: len(JPEG) + 50}))
    settings = Settings(media_root=export.store_dir, media_export_roots=(export.allowed,))
    rows = rows_for([export.ref("small.bin", kind), export.ref("big.bin", kind)], settings)
    assert [(row.kind, row.status, row.size_bytes) for row in rows] == [
        (kind, "stored", len(JPEG)), (kind, "too_large", None)]
