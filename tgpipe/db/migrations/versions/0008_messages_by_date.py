"""Messages of a chat in date order: the index the history API reads by.

``GET /api/v1/history/{chat_id}`` and ``GET /api/v1/chats/{chat_id}/messages`` walk a chat's
messages in ``(date, message_id)`` order between two dates (keyset pagination); the primary key
``(channel_id, message_id)`` cannot serve that order, so without this index PostgreSQL sorts every
message of the chat.

Revision ID: 0008_messages_by_date
Revises: 0007_coverage
Create Date: 2026-12-02
"""

from alembic import op

# Alembic's revision header: the same shape in every revision (deliberate; `duplicates` pairs them).
revision = "0008_messages_by_date"
down_revision = "0007_coverage"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX messages_chat_date_idx ON messages (channel_id, date, message_id)")


def downgrade() -> None:
    op.execute("DROP INDEX messages_chat_date_idx")
