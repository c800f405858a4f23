"""The coverage ledger: which ranges of a chat are archived completely, from which source, and when.

One row per range-complete marker (``coverage.event_id`` is the marker event's id, so a replayed
or redelivered marker adds nothing). A marker follows the range's messages on the chat's partition
and the single writer records it in the transaction that commits it, so every message of a
recorded range is committed by construction (contract C1). Message ids and dates are ranges:

* ``message_ids``: ``int8range``, inclusive of the first and last message id fetched;
* ``dates``: ``tstzrange``, inclusive of the first and last message date fetched.

Deleted messages and id holes inside a range do not break it: the range was fetched whole. A
chat's coverage is the union of its rows (``range_agg``: PostgreSQL 14+), its holes what the union
leaves out between the first and last covered message.

Revision ID: 0007_coverage
Revises: 0006_kinds
Create Date: 2026-12-02
"""

from alembic import op

# Alembic's revision header: the same shape in every revision (deliberate; `duplicates` pairs them).
revision = "0007_coverage"
down_revision = "0006_kinds"
branch_labels = None
depends_on = None

_SOURCES = "'export', 'telegram_backfill', 'telegram_live'"


def upgrade() -> None:
    op.execute(f"""
        CREATE TABLE coverage (
            event_id     uuid        PRIMARY KEY,
            channel_id   bigint      NOT NULL REFERENCES channels (channel_id),
            message_ids  int8range   NOT NULL CHECK (NOT isempty(message_ids)),
            dates        tstzrange   NOT NULL CHECK (NOT isempty(dates)),
            source       text        NOT NULL CONSTRAINT coverage_source_check CHECK (source IN ({_SOURCES})),
            recorded_at  timestamptz NOT NULL DEFAULT now()
        )""")
    op.execute("CREATE INDEX coverage_chat_idx ON coverage (channel_id)")
    op.execute("COMMENT ON TABLE coverage IS "
               "'Ranges of a chat archived completely (one row per range-complete marker); see migration 0007.'")


def downgrade() -> None:
    op.execute("DROP TABLE coverage")
