"""``tgpipe archive --export PATH`` runs its media service with just that export allowed."""

from __future__ import annotations

import json

from tests.media.support import JPEG
from tgpipe.ops import archive as archive_module


async def test_archive_reads_its_own_export_and_allows_nothing_else(settings, db, tmp_path, monkeypatch):
    export = tmp_path / "some" / "export"
    (export / "photos").mkdir(parents=True)
    (export / "photos" / "a.jpg").write_bytes(JPEG)
    message = {"id": 1, "type": "message", "date": "2024-01-01T10:00:00", "date_unixtime": "1704103200",
               "from": "c", "from_id": "channel5", "text": "hi", "photo": "photos/a.jpg"}
    (export / "result.json").write_text(json.dumps({"name": "c", "type": "public_channel", "id": 5,
                                                    "messages": [message]}))
    allowed_by_media = []
    start_children = archive_module.service_processes  # the settings the writer and media children get

    def spying_start(children_settings, *args, **kwargs):
        allowed_by_media.append(children_settings.media_export_roots)
        return start_children(children_settings, *args, **kwargs)

    monkeypatch.setattr(archive_module, "service_processes", spying_start)
    settings = settings.model_copy(update={"media_export_roots": ()})  # nothing allowed by configuration
    await archive_module.archive(settings, export)
    assert allowed_by_media == [(export.resolve(),)]
    async with db.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM media") == "stored"
