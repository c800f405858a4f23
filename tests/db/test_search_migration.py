"""Migration 0009 fills the search columns of the rows already archived, in batches, exactly as the
writer computes them (tgpipe.db.search.document); 0010 enlarges the versions index's pending list."""

from __future__ import annotations

import asyncio

import asyncpg
from alembic import command

from tests.support.database import fresh_database
from tgpipe.db.migrations import alembic_config, upgrade
from tgpipe.db.search import document

_TEXTS = ["Кошка СПИТ", "می\u200cخواهم كتاب علي", "学习中文书籍", "", "e-mail: A@B.c"]
# More rows than one batch of the migration (5,000), so the keyset between batches is exercised.
_COUNT = 5_003


async def test_upgrade_to_0009_fills_the_search_columns_of_existing_messages_and_versions(postgres_url):
    async with fresh_database(postgres_url, None) as url:
        await asyncio.to_thread(upgrade, url, "0008_messages_by_date")
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("INSERT INTO channels (channel_id, type, title) VALUES (1, 'public_channel', 'c')")
            await conn.execute(
                "INSERT INTO messages (channel_id, message_id, kind, date, text, raw, source_event_id) "
                "SELECT 1, i, 'message', now(), ($1::text[])[1 + i % $2] || ' ' || i, '{}', gen_random_uuid() "
                "FROM generate_series(1, $3) AS i", _TEXTS, len(_TEXTS), _COUNT)
            await conn.execute(
                "INSERT INTO message_versions (channel_id, message_id, text_sha256, text, entities, valid_from, "
                "source_event_id) SELECT 1, message_id, encode(sha256(convert_to(text, 'UTF8')), 'hex'), "
                "'old ' || text, '[]', now(), gen_random_uuid() FROM messages")
            await asyncio.to_thread(upgrade, url, "head")
            for table in ("messages", "message_versions"):
                rows = await conn.fetch(f"SELECT text, search_text, search_vector::text AS vector FROM {table}")
                assert len(rows) == _COUNT
                for row in rows:
                    expected = document(row["text"])
                    assert row["search_text"] == expected.search_text
                    assert row["vector"] == await conn.fetchval(
                        "SELECT array_to_tsvector(string_to_array($1, ' '))::text", expected.terms)
            kinds = await conn.fetch("SELECT indexrelid::regclass::text AS name FROM pg_index "
                                     "WHERE indexrelid::regclass::text LIKE '%search_idx'")
            assert sorted(r["name"] for r in kinds) == ["message_versions_search_idx", "messages_search_idx"]
        finally:
            await conn.close()


async def test_upgrade_to_0011_enlarges_only_the_versions_pending_list_and_downgrade_resets_it(postgres_url):
    async with fresh_database(postgres_url, None) as url:
        await asyncio.to_thread(upgrade, url, "head")
        conn = await asyncpg.connect(url)
        try:
            options = {r["name"]: r["options"] for r in await conn.fetch(
                "SELECT relname AS name, reloptions AS options FROM pg_class WHERE relname LIKE '%search_idx'")}
            assert options == {"message_versions_search_idx": ["gin_pending_list_limit=16384"],
                               "messages_search_idx": None}
            await asyncio.to_thread(command.downgrade, alembic_config(url), "0010_search_by_date")
            assert await conn.fetchval("SELECT reloptions FROM pg_class WHERE relname = 'message_versions_search_idx'"
                                       ) is None
        finally:
            await conn.close()
