"""Migration 0013 empties the versions row of each message's current text version (its text lives in
``messages``) and keeps superseded versions whole; its downgrade gives back exactly the rows before."""

from __future__ import annotations

import asyncio

import asyncpg
from alembic import command

from tests.support.database import fresh_database
from tgpipe.db import TEXT_VERSIONS
from tgpipe.db.migrations import alembic_config, upgrade
from tgpipe.db.search import document
from tgpipe.ops.verify import verify

# (message id, current text, superseded texts)
_MESSAGES = [(1, "Кошка спит", []), (2, "edited twice", ["first", "second"]), (3, "", [])]
_SHA = "encode(sha256(convert_to($2 || chr(31) || $3::jsonb::text, 'UTF8')), 'hex')"
_VERSIONS = ("SELECT message_id, text_sha256, text, entities::text, search_text, search_vector::text, edit_date, "
             "valid_from, source_event_id, recorded_at FROM message_versions ORDER BY message_id, text_sha256")


async def _archive_as_0012(conn: asyncpg.Connection) -> None:
    """Messages and versions as the writer of revision 0012 stored them: every version whole."""
    await conn.execute("INSERT INTO channels (channel_id, type, title) VALUES (1, 'public_channel', 'c')")
    for message_id, text, older in _MESSAGES:
        entities = '[{"type": "bold", "offset": 0, "length": 1}]' if text else "[]"
        found = document(text)
        await conn.execute(
            "INSERT INTO messages (channel_id, message_id, kind, date, text, entities, raw, source_event_id, "
            "search_text, search_vector) VALUES (1, $1, 'message', now(), $2, $3::jsonb, '{}', gen_random_uuid(), "
            "$4, array_to_tsvector(string_to_array($5, ' ')))", message_id, text, entities, found.search_text,
            found.terms)
        for i, version in enumerate([*older, text]):
            version_entities = entities if version == text else "[]"
            found = document(version)
            await conn.execute(
                f"INSERT INTO message_versions (channel_id, message_id, text_sha256, text, entities, valid_from, "
                f"source_event_id, search_text, search_vector) VALUES (1, $1, {_SHA}, $2, $3::jsonb, "
                f"now() + make_interval(mins => $6), gen_random_uuid(), $4, array_to_tsvector(string_to_array($5, ' ')))",
                message_id, version, version_entities, found.search_text, found.terms, i)


async def test_upgrade_to_0013_stores_the_current_version_once_and_downgrade_restores_it(postgres_url):
    async with fresh_database(postgres_url, None) as url:
        await asyncio.to_thread(upgrade, url, "0012_archive_checkpoints")
        conn = await asyncpg.connect(url)
        try:
            await _archive_as_0012(conn)
            before = await conn.fetch(_VERSIONS)
            await asyncio.to_thread(upgrade, url, "head")

            after = await conn.fetch(_VERSIONS)
            current = {(r["message_id"], r["text_sha256"]) for r in after if r["text"] is None}
            assert len(current) == len(_MESSAGES)
            for row in after:  # only the stored texts changed, and only those of current versions
                old = next(b for b in before if b["text_sha256"] == row["text_sha256"])
                emptied = (row["message_id"], row["text_sha256"]) in current
                assert tuple(row) == (tuple(old[:2]) + (None,) * 4 + tuple(old[6:]) if emptied else tuple(old))
            assert {r["text"] for r in before} - {r["text"] for r in after} == {text for _, text, _ in _MESSAGES}
            texts = await conn.fetch(f"SELECT message_id, text, entities::text, current FROM {TEXT_VERSIONS} AS v")
            current_text = {message_id: text for message_id, text, _ in _MESSAGES}
            assert {tuple(r) for r in texts} == {(r["message_id"], r["text"], r["entities"],
                                                  r["text"] == current_text[r["message_id"]]) for r in before}
            assert (await verify(conn)).ok

            await asyncio.to_thread(command.downgrade, alembic_config(url), "0012_archive_checkpoints")
            assert [tuple(r) for r in await conn.fetch(_VERSIONS)] == [tuple(r) for r in before]
            assert await conn.fetchval("SELECT bool_and(attnotnull) FROM pg_attribute WHERE attrelid = "
                                       "'message_versions'::regclass AND attname IN ('text', 'entities')")
        finally:
            await conn.close()
