"""Reading one export media file into the content store, refusing every file the service must not read.

The checks, in order; the first that fails is the media row's status, and its ``error`` names the
check. Nothing of a refused file (its content, a prefix, its size) reaches the row, a log or a
metric, and a refused file leaves nothing in the content store.

1. ``export_root_not_allowed``: the event's ``export_root``, resolved (symlinks followed), is
   not inside one of ``TGPIPE_MEDIA_EXPORT_ROOTS`` (:func:`tgpipe.paths.allowed_export_root`);
   with the setting empty, every export file is refused. Nothing is opened.
2. ``outside_export_root``: the media path resolves outside the export root
   (:func:`tgpipe.paths.safe_resolve`, symlinks followed). Nothing is opened.
3. ``not_regular_file``: a FIFO, device, socket or directory, or a file of a kernel
   pseudo-filesystem (``/proc``, ``/sys``, whose "regular" files are made up as they are read).
   Checked with ``lstat`` before opening, so such a file is not even opened, and again with
   ``fstat`` on the opened descriptor, the authority: it is opened ``O_NONBLOCK`` (a FIFO put there
   in between never blocks a thread), ``O_NOFOLLOW`` (nor is a symlink followed) and ``O_NOCTTY``,
   and must be the very file (device and inode) checked at the resolved path, so a folder swapped
   for a symlink between the check and the open is refused too.
4. ``too_large``: over the kind's cap (``TGPIPE_MEDIA_MAX_BYTES``), by the size ``fstat`` gives
   before reading, and again while reading (a file that grows).
5. ``not_image``: a ``photo`` whose first chunk has no image signature (:mod:`.sniff`).

The file is read in chunks of :data:`CHUNK_BYTES`, hashed and written to the store as it is read
(:meth:`~services.media.store.ContentStore.put_stream`): a large file is never held in memory.
"""

from __future__ import annotations

import errno
import functools
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from schemas import MediaRef
from schemas.vocabulary import MediaKind, MediaStatus
from services.media.sniff import describe_non_image, image_format
from services.media.store import Blob, ContentStore
from tgpipe.errors import MediaReadError, UnsafePathError
from tgpipe.paths import allowed_export_root, safe_resolve
from tgpipe.settings import Settings

#: Bytes read at a time (and the most of a file ever held in memory).
CHUNK_BYTES = 1024 * 1024
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC
#: Kernel pseudo-filesystems: their "regular" files are made up as they are read (/proc/self/environ).
_PSEUDO_MOUNTS = (Path("/proc"), Path("/sys"))
_PSEUDO_REASON = "{!r} is on a kernel pseudo-filesystem (/proc, /sys); not read"
_FILE_TYPES = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symlink"))


class MediaRefused(Exception):
    """An export media file that is not stored: ``status`` is the media row's status, ``reason``
    (also ``str()``) names the check that failed and never anything read from the file.

    Never leaves the media service: :func:`services.media.fetch.media_row` records it.
    """

    def __init__(self, status: MediaStatus, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def checked_export_root(ref: MediaRef, settings: Settings) -> Path:
    """The export root of ``ref``, resolved, when it lies inside an allowed root (check 1).

    Raises:
        MediaRefused: ``export_root_not_allowed``; its reason quotes the event's root as given.
    """
    root = allowed_export_root(ref.export_root, settings.media_export_roots)
    if root is None:
        reason = (f"export root {ref.export_root!r} is not under an allowed root (TGPIPE_MEDIA_EXPORT_ROOTS)"
                  if settings.media_export_roots else
                  "export media are not read: no allowed export root (TGPIPE_MEDIA_EXPORT_ROOTS is empty)")
        raise MediaRefused(MediaStatus.EXPORT_ROOT_NOT_ALLOWED, reason)
    return root


def store_export_file(ref: MediaRef, root: Path, store: ContentStore, settings: Settings) -> Blob | None:
    """Read the export file of ``ref`` (its ``path``, the export's ``photo``/``file`` field, under
    ``root`` from :func:`checked_export_root`) into ``store``; ``None`` when there is no such file.

    Raises:
        MediaRefused: checks 2 to 5 of the module docstring (nothing stored).
        MediaReadError: the file exists but reading it failed (nothing stored; worth retrying).
        OSError: writing the store failed.
    """
    try:
        path = safe_resolve(root, ref.path or "")
    except UnsafePathError as exc:
        raise MediaRefused(MediaStatus.OUTSIDE_EXPORT_ROOT, str(exc)) from None
    if any(path.is_relative_to(mount) for mount in _PSEUDO_MOUNTS):
        raise MediaRefused(MediaStatus.NOT_REGULAR_FILE, _PSEUDO_REASON.format(ref.path))
    fd = _open_regular(path, ref.path)
    if fd is None:
        return None
    try:
        cap = settings.media_max_bytes[ref.kind]
        if os.fstat(fd).st_size > cap:
            raise MediaRefused(MediaStatus.TOO_LARGE, _too_large(ref, cap))
        first = _read(fd, ref.path)
        if ref.kind == MediaKind.PHOTO and image_format(first) is None:
            raise MediaRefused(MediaStatus.NOT_IMAGE, describe_non_image(first))
        return store.put_stream(_chunks(fd, first, cap, ref))
    finally:
        os.close(fd)


def _too_large(ref: MediaRef, cap: int) -> str:
    return f"{ref.path!r} is over the {cap:,}-byte cap for {ref.kind} (TGPIPE_MEDIA_MAX_BYTES)"


def _open_regular(path: Path, shown: str | None) -> int | None:
    """A read-only descriptor of the regular file at ``path`` (resolved); ``None`` when absent."""
    try:
        before = path.lstat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise MediaReadError(f"cannot read {shown!r}: {exc}") from exc
    _require_regular(before, shown)  # a device or FIFO is not even opened
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # the last component became a symlink since it was resolved
            raise MediaRefused(MediaStatus.NOT_REGULAR_FILE,
                               f"{shown!r} changed into a symlink while being opened") from None
        raise MediaReadError(f"cannot read {shown!r}: {exc}") from exc
    try:
        opened = os.fstat(fd)
        _require_regular(opened, shown)
        if (opened.st_dev, opened.st_ino) != (before.st_dev, before.st_ino):
            raise MediaRefused(MediaStatus.OUTSIDE_EXPORT_ROOT, f"{shown!r} was replaced while being opened; not read")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _require_regular(st: os.stat_result, shown: str | None) -> None:
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _FILE_TYPES if test(st.st_mode)), "of another type")
        raise MediaRefused(MediaStatus.NOT_REGULAR_FILE, f"{shown!r} is {kind}, not a regular file; not read")
    if st.st_dev in _pseudo_filesystems():
        raise MediaRefused(MediaStatus.NOT_REGULAR_FILE, _PSEUDO_REASON.format(shown))


@functools.cache
def _pseudo_filesystems() -> frozenset[int]:
    """Devices of ``/proc`` and ``/sys`` (where mounted): the same file systems reached by another path."""
    devices = set()
    for mount in _PSEUDO_MOUNTS:
        try:
            devices.add(os.stat(mount).st_dev)
        except OSError:
            pass
    return frozenset(devices)


def _read(fd: int, shown: str | None) -> bytes:
    try:
        return os.read(fd, CHUNK_BYTES)
    except OSError as exc:
        raise MediaReadError(f"cannot read {shown!r}: {exc}") from exc


def _chunks(fd: int, first: bytes, cap: int, ref: MediaRef) -> Iterator[bytes]:
    """``first``, then the rest of the file chunk by chunk, refusing it once it passes ``cap``."""
    total, chunk = 0, first
    while chunk:
        total += len(chunk)
        if total > cap:
            raise MediaRefused(MediaStatus.TOO_LARGE, _too_large(ref, cap))
        yield chunk
        chunk = _read(fd, ref.path)
