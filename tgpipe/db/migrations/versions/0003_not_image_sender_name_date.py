"""Media status ``not_image``; ``senders.name_date`` so a sender's name never depends on arrival order.

* ``media.status`` may be ``not_image``: a ``photo`` whose bytes are not an image (the media
  service sniffs the signature); the bytes are not stored and ``error`` says what they look like.
* ``senders.name_date``: the date of the message the stored ``name`` came from. A sender is shared
  by every chat it writes in, and chats are on different partitions, so "the last write wins"
  would depend on how partitions interleave (partition count, writer replicas). The writer now
  keeps the name from the newest message instead (ties: the greater name), whatever the order.
  Existing named senders get the date of their newest archived message.

Revision ID: 0003_not_image
Revises: 0002_telegram
Create Date: 2026-11-22
"""

from alembic import op

# Alembic's revision header: the same shape in every revision (deliberate; `duplicates` pairs them).
revision = "0003_not_image"
down_revision = "0002_telegram"
branch_labels = None
depends_on = None

_STATUSES = ("'stored', 'missing', 'not_included', 'outside_export_root', 'skipped', 'failed', "
             "'no_telegram_client'")


def upgrade() -> None:
    op.execute("ALTER TABLE media DROP CONSTRAINT media_status_check")
    op.execute("ALTER TABLE media ADD CONSTRAINT media_status_check "
               f"CHECK (status IN ({_STATUSES}, 'not_image'))")
    op.execute("ALTER TABLE senders ADD COLUMN name_date timestamptz")
    op.execute("""
        UPDATE senders s SET name_date = (SELECT max(m.date) FROM messages m
                                          WHERE m.sender_type = s.peer_type AND m.sender_id = s.peer_id)
        WHERE s.name IS NOT NULL""")


def downgrade() -> None:
    op.execute("ALTER TABLE senders DROP COLUMN name_date")
    op.execute("DELETE FROM media WHERE status = 'not_image'")
    op.execute("ALTER TABLE media DROP CONSTRAINT media_status_check")
    op.execute(f"ALTER TABLE media ADD CONSTRAINT media_status_check CHECK (status IN ({_STATUSES}))")
