"""Safe resolution of media paths found in a Telegram Desktop export, and of the export roots events name."""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Iterable
from pathlib import Path, PurePosixPath, PureWindowsPath

from tgpipe.errors import UnsafePathError


def safe_resolve(root: Path, relative: str) -> Path:
    """Resolve an export's relative media path (``photo``/``file`` field) against the export root.

    The export root is resolved first, then ``root / relative`` with
    ``Path.resolve(strict=False)``, so symlinks on the way (in the root or in the path) are
    followed. The file is never opened or required to exist; the caller decides what to do
    with a missing file.

    Args:
        root: the export directory (the one holding ``result.json``).
        relative: the path as written in the export, e.g. ``"photos/photo_1@18-07-2023_00-23-40.jpg"``.

    Returns:
        The absolute resolved path, strictly inside the resolved root.

    Raises:
        UnsafePathError: ``relative`` is empty, contains a NUL character, is absolute (POSIX
            ``/…`` or a Windows drive/UNC path), has ``..`` components that climb above the root,
            names the root itself, or resolves (through symlinks) outside the root; also when
            resolution fails (symlink loop).
    """
    _check_relative(relative)
    try:
        base = root.resolve(strict=False)
        resolved = (base / relative).resolve(strict=False)
    except (OSError, RuntimeError, ValueError) as exc:  # RuntimeError: symlink loop on 3.11/3.12
        raise UnsafePathError(f"media path {relative!r} cannot be resolved: {exc}") from None
    return _inside(base, resolved, relative)


def _check_relative(relative: str) -> None:
    """Refuse what :func:`safe_resolve` refuses without looking at the disk."""
    if not relative or "\x00" in relative:
        raise UnsafePathError(f"media path {relative!r} is empty or contains a NUL character")
    if PurePosixPath(relative).is_absolute() or PureWindowsPath(relative).anchor:
        raise UnsafePathError(f"media path {relative!r} is absolute")
    normalized = posixpath.normpath(relative.replace("\\", "/"))
    if normalized == ".." or normalized.startswith("../"):
        raise UnsafePathError(f"media path {relative!r} climbs above the export root")


def _inside(base: Path, resolved: Path, relative: str) -> Path:
    if resolved == base or not resolved.is_relative_to(base):
        raise UnsafePathError(
            f"media path {relative!r} resolves to {resolved}, outside the export root {base}")
    return resolved


class ExportPaths:
    """:func:`safe_resolve` for the many media paths of one export: the same checks and results,
    with the root and each folder resolved once.

    Resolving costs a system call per component of the absolute path (about 10 µs each where it was
    measured, docs/performance.md), and an export names thousands of files in a few folders
    (``photos``, ``files``, …). Here a path costs one ``lstat`` of the file itself; a file that is a
    symlink, and a path with a ``..`` component, are resolved whole by :func:`safe_resolve`. Folders
    are taken to stay what they were while one export is read (the media service resolves every
    path again before reading it).

    Args:
        root: the export directory (the one holding ``result.json``).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._folders: dict[str, Path] = {}

    def resolve(self, relative: str) -> Path:
        """What ``safe_resolve(self.root, relative)`` returns.

        Raises:
            UnsafePathError: as :func:`safe_resolve`.
        """
        _check_relative(relative)
        folder, _, name = relative.rpartition("/")
        if name in ("", ".", "..") or ".." in folder.split("/"):
            return safe_resolve(self.root, relative)
        try:
            base, where = self._folder(""), self._folder(folder)
        except (OSError, RuntimeError, ValueError):
            return safe_resolve(self.root, relative)  # raises, with safe_resolve's words
        path = where / name
        try:
            link = stat.S_ISLNK(os.lstat(path).st_mode)
        except OSError:  # missing, or not reachable: resolve(strict=False) keeps the name as it is
            link = False
        return safe_resolve(self.root, relative) if link else _inside(base, path, relative)

    def _folder(self, folder: str) -> Path:
        if (resolved := self._folders.get(folder)) is None:
            resolved = self._folders[folder] = (self.root / folder).resolve(strict=False)
        return resolved


def allowed_export_root(export_root: str | None, allowed: Iterable[Path]) -> Path | None:
    """The export root an event names (``MediaRef.export_root``), resolved, if it lies inside one of
    the ``allowed`` directories (``TGPIPE_MEDIA_EXPORT_ROOTS``, already resolved); else ``None``.

    The root is resolved with ``Path.resolve(strict=False)`` (symlinks followed) before the check,
    so a symlink inside an allowed directory that points elsewhere does not pass. Nothing is
    opened. ``None`` also for an empty, relative or unresolvable root (NUL, symlink loop), and
    always when ``allowed`` is empty.
    """
    if not export_root or "\x00" in export_root or not PurePosixPath(export_root).is_absolute():
        return None
    try:
        resolved = Path(export_root).resolve(strict=False)
    except (OSError, RuntimeError, ValueError):
        return None
    return resolved if any(resolved.is_relative_to(root) for root in allowed) else None


#: A content-store key: the sha256 of a file, 64 lowercase hex digits.
SHA256_HEX = r"^[0-9a-f]{64}$"


def content_path(root: Path, sha256: str) -> Path:
    """Where the content store under ``root`` keeps the file whose hex digest is ``sha256``:
    ``root/ab/cd/<sha256>`` (its first two byte pairs as folders), whether stored or not.

    Raises:
        UnsafePathError: ``sha256`` is not 64 lowercase hex digits (so it never leaves ``root``).
    """
    if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
        raise UnsafePathError("a content-store key is 64 lowercase hex digits")
    return root / sha256[:2] / sha256[2:4] / sha256
