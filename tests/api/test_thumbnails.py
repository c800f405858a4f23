"""GET /media/{sha256}/thumbnail: made once from a stored image with Pillow, cached, served with caching."""

from __future__ import annotations

import hashlib
import io

import pytest
from PIL import Image

from services.api.app import create_app
from services.api.thumbnails import SIZE, ThumbnailError, ensure_thumbnail, thumbnail_path
from tests.support.api import client

pytestmark = pytest.mark.e2e


def _photo(trantor) -> tuple[str, float]:
    """A photo of trantor larger than a thumbnail: its digest, and its width / height read with Pillow."""
    entry = next(m for m in trantor.raw["messages"] if "photo" in m and m["width"] > SIZE)
    path = trantor.raw_dir / entry["photo"]
    with Image.open(path) as original:
        return hashlib.sha256(path.read_bytes()).hexdigest(), original.width / original.height


async def test_a_thumbnail_is_made_once_and_then_served_from_the_cache(trantor):
    sha256, ratio = _photo(trantor)
    cached = thumbnail_path(trantor.settings.thumbnail_dir, sha256)
    cached.unlink(missing_ok=True)
    async with client(create_app(trantor.settings)) as http:
        first = await http.get(f"/media/{sha256}/thumbnail")
        made = cached.stat()
        second = await http.get(f"/media/{sha256}/thumbnail")
        again = await http.get(f"/media/{sha256}/thumbnail", headers={"If-None-Match": first.headers["etag"]})
    assert first.status_code == 200 and first.headers["content-type"] == "image/webp"
    image = Image.open(io.BytesIO(first.content))
    assert image.format == "WEBP" and max(image.size) == SIZE
    assert abs(image.width / image.height - ratio) < 0.01
    assert second.content == first.content
    assert (cached.stat().st_ino, cached.stat().st_mtime_ns) == (made.st_ino, made.st_mtime_ns)  # not made again
    assert "immutable" in first.headers["cache-control"] and again.status_code == 304
    assert [p.name for p in cached.parent.iterdir() if p.name.startswith(".")] == []  # no temporary file left


async def test_a_file_not_stored_gets_no_thumbnail(trantor):
    entry = next(m for m in trantor.raw["messages"] if "file" in m and not (trantor.raw_dir / m["file"]).is_file())
    async with client(create_app(trantor.settings)) as http:
        page = (await http.get(f"/chats/{trantor.chat_id}/{entry['id']}")).text
        unknown = await http.get("/media/" + "0" * 64 + "/thumbnail")
    item = page.split(f'<li id="m-{entry["id"]}"', 1)[1].split("</li>", 1)[0]
    assert "(not stored: skipped)" in item and "/media/" not in item  # the media service stores photos only
    assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"


def test_a_file_pillow_cannot_read_is_refused(shared_data, tmp_path):
    pdf = next((shared_data / "hejazizo-anon-bot-chat" / "files").glob("*.pdf"))
    with pytest.raises(ThumbnailError, match="not an image"):
        ensure_thumbnail(pdf, tmp_path / "out.webp")
    assert list(tmp_path.iterdir()) == []


def test_a_decompression_bomb_is_refused_before_its_pixels_are_read(tmp_path):
    bomb = tmp_path / "bomb.png"
    Image.new("1", (8000, 6000)).save(bomb)  # 48 Mpx in a few kilobytes
    with pytest.raises(ThumbnailError, match="more than"):
        ensure_thumbnail(bomb, tmp_path / "out.webp")
    assert not (tmp_path / "out.webp").exists()
