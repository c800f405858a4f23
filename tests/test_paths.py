"""tgpipe.paths.safe_resolve (and ExportPaths, its cached form): relative media paths stay inside the export root."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tgpipe.errors import UnsafePathError
from tgpipe.paths import ExportPaths, allowed_export_root, content_path, safe_resolve


@pytest.fixture
def root(tmp_path: Path) -> Path:
    export = tmp_path / "export"
    (export / "photos").mkdir(parents=True)
    (export / "photos" / "a.jpg").write_bytes(b"jpg")
    (tmp_path / "secret.txt").write_text("outside")
    return export


def test_resolves_a_relative_path_inside_the_root(root: Path) -> None:
    assert safe_resolve(root, "photos/a.jpg") == (root / "photos" / "a.jpg").resolve()


def test_does_not_require_the_file_to_exist(root: Path) -> None:
    assert safe_resolve(root, "video_files/missing.mp4") == root.resolve() / "video_files" / "missing.mp4"


def test_dotdot_that_stays_inside_is_allowed(root: Path) -> None:
    assert safe_resolve(root, "photos/../photos/a.jpg") == (root / "photos" / "a.jpg").resolve()


@pytest.mark.parametrize(
    "relative",
    ["../secret.txt", "photos/../../secret.txt", "..", "/etc/passwd", "C:\\Windows\\win.ini",
     "\\\\server\\share\\x", "", ".", "photos/a\x00.jpg"],
)
def test_refuses_escaping_absolute_or_degenerate_paths(root: Path, relative: str) -> None:
    with pytest.raises(UnsafePathError):
        safe_resolve(root, relative)


def test_refuses_a_symlink_pointing_outside(root: Path) -> None:
    (root / "photos" / "link.jpg").symlink_to(root.parent / "secret.txt")
    with pytest.raises(UnsafePathError, match="outside the export root"):
        safe_resolve(root, "photos/link.jpg")


def test_refuses_a_symlinked_directory_pointing_outside(root: Path) -> None:
    (root / "files").symlink_to(root.parent)
    with pytest.raises(UnsafePathError):
        safe_resolve(root, "files/secret.txt")


def test_follows_a_symlink_that_stays_inside(root: Path) -> None:
    (root / "alias.jpg").symlink_to(root / "photos" / "a.jpg")
    assert safe_resolve(root, "alias.jpg") == (root / "photos" / "a.jpg").resolve()


def test_a_symlinked_root_is_resolved_first(root: Path, tmp_path: Path) -> None:
    link = tmp_path / "root-link"
    link.symlink_to(root)
    assert safe_resolve(link, "photos/a.jpg") == (root / "photos" / "a.jpg").resolve()


def test_a_symlink_loop_is_refused(root: Path) -> None:
    (root / "loop1").symlink_to(root / "loop2")
    (root / "loop2").symlink_to(root / "loop1")
    with pytest.raises(UnsafePathError):
        safe_resolve(root, "loop1/x.jpg")


def _outcome(resolve: Callable[[str], Path], relative: str) -> Path | str:
    try:
        return resolve(relative)
    except UnsafePathError as exc:
        return f"refused: {exc}"


def test_export_paths_resolve_every_path_as_safe_resolve_does(root: Path, tmp_path: Path) -> None:
    (root / "files").mkdir()
    (root / "inside").symlink_to(root / "photos")
    (root / "outside").symlink_to(tmp_path)
    (root / "photos" / "in.jpg").symlink_to(root / "photos" / "a.jpg")
    (root / "photos" / "out.jpg").symlink_to(tmp_path / "secret.txt")
    (root / "loop1").symlink_to(root / "loop2")
    (root / "loop2").symlink_to(root / "loop1")
    (root / "photos" / "self.jpg").symlink_to(root / "photos" / "self.jpg")
    link = tmp_path / "root-link"
    link.symlink_to(root)
    relatives = ["photos/a.jpg", "photos/missing.jpg", "a.jpg", "photos//a.jpg", "./photos/./a.jpg", "photos/",
                 "photos/.", "photos/..", "photos/../photos/a.jpg", "photos/a.jpg/x", "files/x/y/z.mp4",
                 "inside/a.jpg", "inside/in.jpg", "outside/secret.txt", "outside/missing", "photos/in.jpg",
                 "photos/out.jpg", "photos/self.jpg", "loop1/x.jpg", "loop1", "photos\\a.jpg",
                 "../secret.txt", "photos/../../secret.txt", "..", ".", "", "/etc/passwd", "C:\\x", "a\x00"]
    for export in (root, link):
        paths = ExportPaths(export)
        for _ in range(2):  # the second time from the cache
            for relative in relatives:
                assert _outcome(paths.resolve, relative) == _outcome(lambda r: safe_resolve(export, r), relative), \
                    relative


# --------------------------------------------------------------------------- allowed export roots


def test_an_export_root_inside_an_allowed_root_is_returned_resolved(root: Path, tmp_path: Path) -> None:
    link = tmp_path / "root-link"
    link.symlink_to(root)
    assert allowed_export_root(str(link), [tmp_path.resolve()]) == root.resolve()
    assert allowed_export_root(str(root), [root.resolve()]) == root.resolve()  # the allowed root itself


@pytest.mark.parametrize("export_root", [None, "", "relative/export", "/etc", "/", "/tmp/x\x00y"])
def test_empty_relative_foreign_or_nul_roots_are_not_allowed(tmp_path: Path, export_root) -> None:
    assert allowed_export_root(export_root, [tmp_path.resolve()]) is None


def test_a_sibling_sharing_the_prefix_is_not_inside(tmp_path: Path) -> None:
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports-evil").mkdir()
    assert allowed_export_root(str(tmp_path / "exports-evil"), [(tmp_path / "exports").resolve()]) is None
    assert allowed_export_root(str(tmp_path / "exports" / ".." / "exports-evil"),
                               [(tmp_path / "exports").resolve()]) is None


def test_a_symlink_out_of_an_allowed_root_is_resolved_and_refused(tmp_path: Path) -> None:
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "etc").symlink_to("/etc")
    assert allowed_export_root(str(tmp_path / "exports" / "etc"), [(tmp_path / "exports").resolve()]) is None


def test_nothing_is_allowed_without_allowed_roots(root: Path) -> None:
    assert allowed_export_root(str(root), []) is None


@pytest.mark.parametrize("key", ["0" * 63, "0" * 65, "A" * 64, "../" + "0" * 61, "g" * 64, ""])
def test_content_path_accepts_only_a_lowercase_hex_digest(tmp_path, key):
    with pytest.raises(UnsafePathError):
        content_path(tmp_path, key)


def test_content_path_is_two_levels_of_byte_pairs(tmp_path):
    key = "ab" + "cd" + "0" * 60
    assert content_path(tmp_path, key) == tmp_path / "ab" / "cd" / key
