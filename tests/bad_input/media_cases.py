"""The media part of the bad-input corpus: media references another producer put on the messages topic.

Each :class:`MediaCase` is one reference and the status its media row must get from the running
media service, whose only allowed export root is :attr:`MediaLayout.allowed`. The layout holds
one export (``allowed/chat``) with hostile files (a FIFO, a folder named like a photo, a sparse
photo over the cap, text named ``.jpg``, symlinks out of it), a secret beside the allowed root,
and a symlink inside the allowed root to ``/etc``. Hostile roots name real host files
(``/etc/passwd``, ``/etc/shadow``, ``/root/.bashrc``, ``/dev/zero``): nothing of them may reach
the database, the logs or the content store.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from schemas import MediaRef
from tests.media.support import JPEG, Export

#: Bytes of the secret beside the allowed root: an image, so a reader that opened it would store it.
SECRET = JPEG + b" SECRET beside the allowed root"
#: Text that must never appear in a row, a log line or the store (host files, the secret, a non-image).
MARKERS = ("root:x:0:0", "SECRET beside", "/bin/bash", "PRIVATE-NOT-AN-IMAGE")
PHOTO_CAP = 10 * 1024 * 1024


@dataclass(frozen=True)
class MediaLayout(Export):
    """:class:`~tests.media.support.Export` (allowed root ``base/exports``, export ``chat``) with
    hostile files in the export, and ``base/outside`` beside the allowed root."""

    @property
    def outside(self) -> Path:
        return self.base / "outside"

    @classmethod
    def create(cls, base: Path) -> MediaLayout:
        layout = super().create(base)
        photos = layout.root / "photos"
        layout.outside.mkdir()
        (layout.outside / "secret.jpg").write_bytes(SECRET)
        os.mkfifo(photos / "pipe.jpg")
        (photos / "folder.jpg").mkdir()
        with open(photos / "big.jpg", "wb") as big:  # sparse: a JPEG just over the photo cap
            big.write(JPEG)
            big.truncate(PHOTO_CAP + 1)
        (photos / "text.jpg").write_bytes(b"PRIVATE-NOT-AN-IMAGE root:x:0:0:root:/root:/bin/bash\n")
        (photos / "escape.jpg").symlink_to(layout.outside / "secret.jpg")
        (photos / "zero.jpg").symlink_to("/dev/zero")
        (layout.root / "linkdir").symlink_to(layout.outside, target_is_directory=True)
        (layout.allowed / "etc-link").symlink_to("/etc", target_is_directory=True)
        return layout

    def good_photo(self, chat: int) -> MediaRef:
        """A photo of its own for ``chat`` (written now): the chat's media after the bad one still work."""
        path = self.root / "photos" / f"good-{chat}.jpg"
        path.write_bytes(JPEG + str(chat).encode())
        return MediaRef(kind="photo", export_root=str(self.root), path=path.relative_to(self.root).as_posix())


@dataclass(frozen=True)
class MediaCase:
    id: str
    ref: Callable[[MediaLayout], MediaRef]
    status: str


def _ref(kind: str, path: str, root: Callable[[MediaLayout], str | Path] = lambda layout: layout.root
         ) -> Callable[[MediaLayout], MediaRef]:
    return lambda layout: MediaRef(kind=kind, export_root=str(root(layout)), path=path)


def _fixed(root: str) -> Callable[[MediaLayout], str]:
    return lambda _layout: root


NOT_ALLOWED, OUTSIDE = "export_root_not_allowed", "outside_export_root"
MEDIA_CASES = [
    MediaCase("export-root-etc-passwd-photo", _ref("photo", "passwd", _fixed("/etc")), NOT_ALLOWED),
    MediaCase("export-root-etc-passwd-document", _ref("document", "passwd", _fixed("/etc")), NOT_ALLOWED),
    MediaCase("export-root-etc-shadow-document", _ref("document", "shadow", _fixed("/etc")), NOT_ALLOWED),
    MediaCase("export-root-root-bashrc-document", _ref("document", ".bashrc", _fixed("/root")), NOT_ALLOWED),
    MediaCase("export-root-dev-zero-document", _ref("document", "zero", _fixed("/dev")), NOT_ALLOWED),
    MediaCase("export-root-proc-environ", _ref("document", "self/environ", _fixed("/proc")), NOT_ALLOWED),
    MediaCase("export-root-symlink-to-etc",
              _ref("document", "passwd", lambda layout: layout.allowed / "etc-link"), NOT_ALLOWED),
    MediaCase("export-root-dotdot-out-of-allowed",
              _ref("photo", "secret.jpg", lambda layout: f"{layout.allowed}/../outside"), NOT_ALLOWED),
    MediaCase("export-root-relative", _ref("photo", "photos/good.jpg", _fixed("exports/chat")), NOT_ALLOWED),
    MediaCase("path-dotdot-escape", _ref("photo", "../../outside/secret.jpg"), OUTSIDE),
    MediaCase("path-absolute", _ref("document", "/etc/passwd"), OUTSIDE),
    MediaCase("symlink-escape", _ref("photo", "photos/escape.jpg"), OUTSIDE),
    MediaCase("symlinked-folder-escape", _ref("photo", "linkdir/secret.jpg"), OUTSIDE),
    MediaCase("symlink-to-dev-zero", _ref("document", "photos/zero.jpg"), OUTSIDE),
    MediaCase("fifo", _ref("photo", "photos/pipe.jpg"), "not_regular_file"),
    MediaCase("fifo-document", _ref("document", "photos/pipe.jpg"), "not_regular_file"),
    MediaCase("folder-named-jpg", _ref("photo", "photos/folder.jpg"), "not_regular_file"),
    MediaCase("sparse-photo-over-the-cap", _ref("photo", "photos/big.jpg"), "too_large"),
    MediaCase("text-named-jpg", _ref("photo", "photos/text.jpg"), "not_image"),
]
