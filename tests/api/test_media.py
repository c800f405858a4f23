"""GET /media/{sha256}: stored files with their type, ETag, range requests and caching."""

from __future__ import annotations

import hashlib

import pytest

from services.api.app import create_app
from tests.support.api import client

pytestmark = pytest.mark.e2e


def _a_photo(trantor) -> tuple[str, bytes]:
    entry = next(m for m in trantor.raw["messages"] if "photo" in m)
    data = (trantor.raw_dir / entry["photo"]).read_bytes()
    return hashlib.sha256(data).hexdigest(), data


async def test_a_stored_photo_is_served_with_its_type_etag_and_cache_headers(trantor):
    sha256, data = _a_photo(trantor)
    async with client(create_app(trantor.settings)) as http:
        response = await http.get(f"/media/{sha256}")
        again = await http.get(f"/media/{sha256}", headers={"If-None-Match": response.headers["etag"]})
    assert response.status_code == 200 and response.content == data
    assert response.headers["content-type"] == "image/jpeg"  # recorded by the media service from the bytes
    assert response.headers["etag"] == f'"{sha256}"'
    assert "immutable" in response.headers["cache-control"]
    assert again.status_code == 304 and again.content == b""


async def test_a_range_request_gets_those_bytes(trantor):
    sha256, data = _a_photo(trantor)
    async with client(create_app(trantor.settings)) as http:
        response = await http.get(f"/media/{sha256}", headers={"Range": "bytes=10-109"})
    assert response.status_code == 206
    assert response.content == data[10:110]
    assert response.headers["content-range"] == f"bytes 10-109/{len(data)}"


@pytest.mark.parametrize(("path", "status"), [
    ("/media/" + "g" * 64, 422),
    ("/media/" + "A" * 64, 422),
    ("/media/abc", 422),
    ("/media/..%2F..%2Fetc%2Fpasswd", 404),  # decoded to a path of several segments: no such route
    ("/media/" + "0" * 64, 404),
])
async def test_anything_but_a_stored_digest_is_refused(trantor, path, status):
    async with client(create_app(trantor.settings)) as http:
        response = await http.get(path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
