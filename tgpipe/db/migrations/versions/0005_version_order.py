"""The order of versions comes from the data (contract O1); media follow the current version.

* ``messages.version_sha256``: the sha256 of the stored version (message and media references,
  ``services.writer.persist.version_sha256``), the last part of the order key ``(edit_date,
  observed_at, version_sha256)``. ``messages.observed_at`` now means when the source showed the
  version (the event's ``payload.observed_at``), no longer the envelope ``time`` (for an export,
  the time it was published): existing values are cleared, so any new observation with the same
  ``edit_date`` replaces a row written before this revision (which has no version hash either).
* ``channels.title_date``: when the stored ``title``/``type`` were seen at the source; a late
  older observation no longer rolls a title back and one without a title never wipes it.
  Existing chats get their newest archived message's edit or send date (a lower bound).
* ``message_deletions``: the earliest deletion time of every deleted message id, kept even when
  the deletion arrives before its message, so ``messages.deleted_at`` is the same in any order.
  Filled from the existing ``messages.deleted_at``.
* ``media.version_sha256``: the message version a media row belongs to; the status
  ``superseded``: the row's item is not part of the message's current version any more (an edit
  removed or replaced it); ``sha256`` stays, so a stored file remains linked. Only ``stored`` and
  ``superseded`` rows may hold a ``sha256``.

The status check lists every status, including those of revision 0004 (media read checks).

Revision ID: 0005_order
Revises: 0004_media
Create Date: 2026-12-02
"""

from alembic import op

# Alembic's revision header: the same shape in every revision (deliberate; `duplicates` pairs them).
revision = "0005_order"
down_revision = "0004_media"
branch_labels = None
depends_on = None

_STATUSES = ("'stored', 'missing', 'not_included', 'outside_export_root', 'skipped', 'failed', "
             "'no_telegram_client', 'not_image', 'export_root_not_allowed', 'not_regular_file', 'too_large'")

UPGRADE = f"""
ALTER TABLE messages ADD COLUMN version_sha256 text CHECK (version_sha256 ~ '^[0-9a-f]{{64}}$');
UPDATE messages SET observed_at = NULL WHERE observed_at IS NOT NULL;
ALTER TABLE channels ADD COLUMN title_date timestamptz;
UPDATE channels c SET title_date = (SELECT max(coalesce(m.edit_date, m.date)) FROM messages m
                                    WHERE m.channel_id = c.channel_id);
CREATE TABLE message_deletions (
    channel_id  bigint      NOT NULL,
    message_id  bigint      NOT NULL,
    deleted_at  timestamptz NOT NULL,
    PRIMARY KEY (channel_id, message_id)
);
COMMENT ON TABLE message_deletions IS
    'Earliest deletion time per message id (also of messages not archived yet); messages.deleted_at follows it.';
INSERT INTO message_deletions (channel_id, message_id, deleted_at)
SELECT channel_id, message_id, deleted_at FROM messages WHERE deleted_at IS NOT NULL;
ALTER TABLE media ADD COLUMN version_sha256 text CHECK (version_sha256 ~ '^[0-9a-f]{{64}}$');
ALTER TABLE media DROP CONSTRAINT media_status_check;
ALTER TABLE media ADD CONSTRAINT media_status_check CHECK (status IN ({_STATUSES}, 'superseded'));
ALTER TABLE media DROP CONSTRAINT media_check;
ALTER TABLE media ADD CONSTRAINT media_sha256_status_check CHECK (
    CASE status WHEN 'stored' THEN sha256 IS NOT NULL WHEN 'superseded' THEN true ELSE sha256 IS NULL END)
"""


# Each revision runs its own statements and imports no other revision (history never changes), so the
# same few lines stand in several revisions (`duplicates` pairs them).
def upgrade() -> None:
    # asyncpg runs one statement per call; the DDL has no ';' followed by a newline inside literals.
    for statement in UPGRADE.split(";\n"):
        if statement.strip():
            op.execute(statement)


def downgrade() -> None:
    op.execute("DELETE FROM media WHERE status = 'superseded'")
    op.execute("ALTER TABLE media DROP CONSTRAINT media_sha256_status_check")
    op.execute("ALTER TABLE media ADD CONSTRAINT media_check CHECK ((status = 'stored') = (sha256 IS NOT NULL))")
    op.execute("ALTER TABLE media DROP CONSTRAINT media_status_check")
    op.execute(f"ALTER TABLE media ADD CONSTRAINT media_status_check CHECK (status IN ({_STATUSES}))")
    op.execute("ALTER TABLE media DROP COLUMN version_sha256")
    op.execute("DROP TABLE message_deletions")
    op.execute("ALTER TABLE channels DROP COLUMN title_date")
    op.execute("ALTER TABLE messages DROP COLUMN version_sha256")
