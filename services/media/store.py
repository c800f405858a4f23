"""Content-addressed media store on a local filesystem (the media store interface).

Files live at ``ROOT/ab/cd/<sha256>`` (first two byte pairs of the hex digest as folders).
Writes are atomic and streamed: bytes go to a temporary file ``ROOT/.tmp-*`` as they come
(hashed on the way, never held whole in memory), which is fsynced, then renamed into place and
the folder fsynced, so a reader never sees a partial file and a stored file survives a crash.
Identical bytes are stored once. A write that fails or is abandoned midway (the bytes' source
raises) removes its temporary file: nothing is left in the store.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tgpipe.metrics import MEDIA_STORED_BYTES
from tgpipe.paths import content_path


@dataclass(frozen=True, slots=True)
class Blob:
    """A stored file: its sha256 (hex, 64 chars), its size in bytes, and whether this write
    created it (``False``: identical bytes were already stored)."""

    sha256: str
    size: int
    new: bool


class ContentStore:
    """Store and locate blobs by sha256 under ``root`` (created on first write)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha256: str) -> Path:
        """Where the blob with hex digest ``sha256`` lives (whether stored or not; see
        :func:`tgpipe.paths.content_path`, which the API reads it by). Raises ``UnsafePathError``
        for a key that is not 64 lowercase hex digits."""
        return content_path(self.root, sha256)

    def put(self, data: bytes) -> str:
        """Store ``data`` unless identical bytes are already stored; return its sha256 (hex).

        Blocking file I/O, as :meth:`put_stream`.
        """
        return self.put_stream([data]).sha256

    def put_stream(self, chunks: Iterable[bytes]) -> Blob:
        """Store the concatenation of ``chunks`` unless identical bytes are already stored.

        ``chunks`` is consumed once, each chunk written to the temporary file as it comes; an
        exception raised by it (a refusal, a read error) or by the write removes the temporary
        file and propagates. Bytes newly written count in ``tgpipe_media_stored_bytes_total``
        (a file already stored counts once, however many media rows share it).

        Blocking file I/O: call it from a worker thread in async code.

        Raises:
            OSError: the store cannot be written (disk full, permissions).
        """
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
        try:
            digest, size = hashlib.sha256(), 0
            with os.fdopen(fd, "wb") as fh:
                for chunk in chunks:
                    digest.update(chunk)
                    fh.write(chunk)
                    size += len(chunk)
                sha256 = digest.hexdigest()
                target = self.path_for(sha256)
                if target.exists():
                    Path(tmp).unlink()
                    return Blob(sha256, size, new=False)
                fh.flush()
                os.fsync(fh.fileno())
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)  # the rename itself survives a power loss before a 'stored' row says so
        MEDIA_STORED_BYTES.inc(size)
        return Blob(sha256, size, new=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
