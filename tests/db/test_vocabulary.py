"""The database's CHECK constraints and the vocabulary of ``schemas.vocabulary`` are one list.

Migrations write out the values they apply (history never changes), so these tests compare the
constraints of a migrated database with the enums: adding a member without a migration, or a
migration without the member, fails here.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime
from enum import StrEnum

import asyncpg
import pytest
import sqlalchemy.exc

from schemas.vocabulary import CoverageSource, MediaKind, MediaStatus, MessageKind, PeerType
from tests.support.database import fresh_database
from tgpipe.db.migrations import upgrade

CHECKS = [("media", "media_status_check", MediaStatus), ("media", "media_kind_check", MediaKind),
          ("messages", "messages_media_kind_check", MediaKind), ("messages", "messages_kind_check", MessageKind),
          ("senders", "senders_peer_type_check", PeerType), ("coverage", "coverage_source_check", CoverageSource)]


async def allowed_values(conn: asyncpg.Connection, table: str, constraint: str) -> set[str]:
    """The string literals of a CHECK constraint (``col IN ('a', 'b')``, which PostgreSQL keeps as
    ``col = ANY (ARRAY['a'::text, 'b'::text])``)."""
    definition = await conn.fetchval(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = $1::regclass AND conname = $2",
        table, constraint)
    assert definition is not None, f"{table} has no constraint {constraint}"
    assert re.fullmatch(r"CHECK \(\(\w+ = ANY \(ARRAY\[('[a-z_]+'::text(, )?)+\]\)\)\)", definition), definition
    return set(re.findall(r"'([a-z_]+)'::text", definition))


@pytest.mark.parametrize(("table", "constraint", "vocabulary"), CHECKS, ids=[c[1] for c in CHECKS])
async def test_database_checks_allow_exactly_the_vocabulary(db: asyncpg.Pool, table: str, constraint: str,
                                                             vocabulary: type[StrEnum]) -> None:
    async with db.acquire() as conn:
        assert await allowed_values(conn, table, constraint) == {member.value for member in vocabulary}


async def test_a_media_row_of_an_unknown_kind_is_refused(db: asyncpg.Pool) -> None:
    await db.execute("INSERT INTO channels (channel_id, type) VALUES (1, 'channel')")
    await db.execute("INSERT INTO messages (channel_id, message_id, kind, date, raw, source_event_id) "
                     "VALUES (1, 1, 'message', now(), '{}', $1)", uuid.uuid4())
    with pytest.raises(asyncpg.CheckViolationError, match="media_kind_check"):
        await db.execute("INSERT INTO media (channel_id, message_id, kind, status) "
                         "VALUES (1, 1, 'hologram', 'skipped')")


async def _at_0005(conn: asyncpg.Connection, rows: dict[int, tuple[str | None, list[str]]]) -> None:
    """Messages of chat 1 as an older tgpipe wrote them: message id → (media_kind, media row kinds)."""
    await conn.execute("INSERT INTO channels (channel_id, type) VALUES (1, 'channel')")
    for message_id, (media_kind, kinds) in rows.items():
        await conn.execute("INSERT INTO messages (channel_id, message_id, kind, date, raw, source_event_id, "
                           "media_kind) VALUES (1, $1, 'message', $2, '{}', $3, $4)",
                           message_id, datetime(2024, 1, 1, tzinfo=UTC), uuid.uuid4(), media_kind)
        for kind in kinds:
            await conn.execute("INSERT INTO media (channel_id, message_id, kind, status) "
                               "VALUES (1, $1, $2, 'skipped')", message_id, kind)


async def _kinds(conn: asyncpg.Connection) -> dict[int, tuple[str | None, list[str]]]:
    media = await conn.fetch("SELECT message_id, kind FROM media ORDER BY message_id, kind")
    return {r["message_id"]: (r["media_kind"], [m["kind"] for m in media if m["message_id"] == r["message_id"]])
            for r in await conn.fetch("SELECT message_id, media_kind FROM messages ORDER BY message_id")}


async def test_upgrade_makes_kinds_an_older_tgpipe_copied_from_an_export_documents(postgres_url: str) -> None:
    async with fresh_database(postgres_url, None) as url:
        await asyncio.to_thread(upgrade, url, "0005_order")
        conn = await asyncpg.connect(url)
        try:
            await _at_0005(conn, {1: ("hologram", ["hologram"]), 2: ("photo", ["photo", "hologram"]),
                                  3: ("video_message", ["video_message"]), 4: (None, [])})
            await asyncio.to_thread(upgrade, url)
            assert await _kinds(conn) == {1: ("document", ["document"]), 2: ("photo", ["document", "photo"]),
                                          3: ("video_message", ["video_message"]), 4: (None, [])}
        finally:
            await conn.close()


async def test_upgrade_refuses_rather_than_merge_two_media_rows_into_one(postgres_url: str) -> None:
    async with fresh_database(postgres_url, None) as url:
        await asyncio.to_thread(upgrade, url, "0005_order")
        conn = await asyncpg.connect(url)
        try:
            rows = {1: ("document", ["document", "hologram"]), 2: ("photo", ["photo"])}
            await _at_0005(conn, rows)
            with pytest.raises(sqlalchemy.exc.IntegrityError, match="media_kind_check"):
                await asyncio.to_thread(upgrade, url)
            assert await conn.fetchval("SELECT version_num FROM alembic_version") == "0005_order"
            assert await _kinds(conn) == {1: ("document", ["document", "hologram"]), 2: ("photo", ["photo"])}
        finally:
            await conn.close()
