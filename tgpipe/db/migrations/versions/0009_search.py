"""Full-text search: normalised text and index terms of every message and text version.

``messages`` and ``message_versions`` get ``search_text`` (the text's tokens, normalised, joined by
spaces, in text order: phrases and substrings are checked on it with ``LIKE``) and
``search_vector`` (``array_to_tsvector`` of its index terms: words, and character bigrams of
Chinese/Japanese/Korean runs), each vector with a GIN index. Both are computed in Python by
:mod:`tgpipe.db.search` (the rules are in its docstring), never by PostgreSQL's text-search parser,
whose idea of a letter follows the database's ``LC_CTYPE``. Existing rows are filled here, in
batches of :data:`BATCH` by primary key; the writer fills new ones. The columns stay nullable: a
row written by an older writer during a rolling deploy is simply not found until rewritten.

This revision imports the live module (unlike the others): the stored columns must equal what the
writer computes. A change of the rules needs a new revision that recomputes them.

Revision ID: 0009_search
Revises: 0008_messages_by_date
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from tgpipe.db.search import document

# Alembic's revision header: the same shape in every revision (deliberate; `duplicates` pairs them).
revision = "0009_search"
down_revision = "0008_messages_by_date"
branch_labels = None
depends_on = None

BATCH = 5000
_KEYS = {"messages": ("channel_id", "message_id"), "message_versions": ("channel_id", "message_id", "text_sha256")}
_TYPES = {"channel_id": "bigint[]", "message_id": "bigint[]", "text_sha256": "text[]"}


def _backfill(table: str) -> None:
    bind = op.get_bind()
    keys = _KEYS[table]
    columns = ", ".join(keys)
    after: tuple | None = None
    while True:
        where = f"WHERE ({columns}) > ({', '.join(f':k{i}' for i in range(len(keys)))})" if after else ""
        params = {f"k{i}": value for i, value in enumerate(after or ())}
        rows = bind.execute(sa.text(f"SELECT {columns}, text FROM {table} {where} ORDER BY {columns} LIMIT {BATCH}"),
                            params).all()
        if not rows:
            return
        docs = [document(r[-1]) for r in rows]
        values = {f"c{i}": [r[i] for r in rows] for i in range(len(keys))}
        values |= {"search_text": [d.search_text for d in docs], "terms": [d.terms for d in docs]}
        unnest = ", ".join(f"CAST(:c{i} AS {_TYPES[k]})" for i, k in enumerate(keys))
        bind.execute(sa.text(
            f"UPDATE {table} t SET search_text = u.search_text, "
            f"search_vector = array_to_tsvector(string_to_array(u.terms, ' ')) "
            f"FROM unnest({unnest}, CAST(:search_text AS text[]), CAST(:terms AS text[])) "
            f"AS u({columns}, search_text, terms) "
            f"WHERE {' AND '.join(f't.{k} = u.{k}' for k in keys)}"), values)
        after = tuple(rows[-1][:len(keys)])


def upgrade() -> None:
    for table in _KEYS:
        op.execute(f"ALTER TABLE {table} ADD COLUMN search_text text, ADD COLUMN search_vector tsvector")
        _backfill(table)
        op.execute(f"CREATE INDEX {table}_search_idx ON {table} USING gin (search_vector)")


def downgrade() -> None:
    for table in _KEYS:
        op.execute(f"DROP INDEX {table}_search_idx")
        op.execute(f"ALTER TABLE {table} DROP COLUMN search_text, DROP COLUMN search_vector")
