"""Content-addressed media store on a local filesystem (the media store interface).

Files live at ``ROOT/ab/cd/<sha256>`` (first two byte pairs of the hex digest as folders).
Writes are atomic: bytes go to a temporary file in the same folder, are fsynced, then renamed
into place and the folder fsynced, so a reader never sees a partial file and a stored file
survives a crash; identical bytes are stored once.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


class ContentStore:
    """Store and locate blobs by sha256 under ``root`` (created on first write)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha256: str) -> Path:
        """Where the blob with hex digest ``sha256`` lives (whether stored or not)."""
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        """Store ``data`` unless identical bytes are already stored; return its sha256 (hex, 64 chars).

        Blocking file I/O: call it from a worker thread in async code.

        Raises:
            OSError: the store cannot be written (disk full, permissions).
        """
        digest = hashlib.sha256(data).hexdigest()
        target = self.path_for(digest)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)  # the rename itself survives a power loss before a 'stored' row says so
        return digest


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
