"""Live Telegram collection: soft deletes, text versions, remembered channel peers, Telegram photos.

* ``messages.deleted_at``: set once when Telegram deleted the message (the row stays);
  ``messages.observed_at``: the ``time`` of the event the row (or its reactions) came from, so
  a reactions-only update with the same ``edit_date`` never rolls back to an older observation.
* ``message_versions``: every distinct text version (text + entities) of a message, keyed by
  the sha256 that the writer computes in SQL (``text || chr(31) || entities::text``);
  ``valid_from`` is the earliest time the version is known to be current (its ``edit_date``,
  or the message date for the original). Existing messages get their current text as a version.
* ``channel_peers``: ``@username``/id → channel id and access hash, per Telegram account (access
  hashes are per account), so a restart needs no re-resolution.
* ``unresolved_deletions``: deletions Telegram reported without a chat (private chats, basic
  groups); never matched to a chat by guess.
* ``media.telegram_photo_id`` (dedupe before downloading) and the status ``no_telegram_client``
  (a Telegram photo reached a media service that has no Telegram session configured).

Revision ID: 0002_telegram
Revises: 0001
Create Date: 2026-11-22
"""

from alembic import op

revision = "0002_telegram"
down_revision = "0001"
branch_labels = None
depends_on = None

VERSION_HASH = "encode(sha256(convert_to({text} || chr(31) || {entities}::text, 'UTF8')), 'hex')"

SCHEMA = f"""
        ALTER TABLE messages ADD COLUMN deleted_at timestamptz, ADD COLUMN observed_at timestamptz;
        CREATE INDEX messages_deleted_idx ON messages (channel_id, message_id) WHERE deleted_at IS NOT NULL;

        CREATE TABLE message_versions (
            channel_id      bigint      NOT NULL,
            message_id      bigint      NOT NULL,
            text_sha256     text        NOT NULL CHECK (text_sha256 ~ '^[0-9a-f]{{64}}$'),
            text            text        NOT NULL,
            entities        jsonb       NOT NULL,
            edit_date       timestamptz,
            valid_from      timestamptz NOT NULL,
            source_event_id uuid        NOT NULL,
            recorded_at     timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (channel_id, message_id, text_sha256),
            FOREIGN KEY (channel_id, message_id) REFERENCES messages (channel_id, message_id)
        );
        COMMENT ON TABLE message_versions IS 'Every distinct text version of a message (text + entities).';
        INSERT INTO message_versions (channel_id, message_id, text_sha256, text, entities, edit_date, valid_from,
                                      source_event_id)
        SELECT channel_id, message_id, {VERSION_HASH.format(text="text", entities="entities")}, text, entities,
               edit_date, coalesce(edit_date, date), source_event_id
        FROM messages;

        CREATE TABLE channel_peers (
            account_id  bigint      NOT NULL,
            channel_id  bigint      NOT NULL,
            access_hash bigint      NOT NULL,
            username    text,
            title       text,
            type        text        NOT NULL,
            resolved_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (account_id, channel_id)
        );
        CREATE UNIQUE INDEX channel_peers_username_idx ON channel_peers (account_id, lower(username))
            WHERE username IS NOT NULL;
        COMMENT ON TABLE channel_peers IS 'Resolved channels per Telegram account (access hashes are per account).';

        CREATE TABLE unresolved_deletions (
            event_id    uuid        NOT NULL,
            message_id  bigint      NOT NULL,
            deleted_at  timestamptz NOT NULL,
            source      text        NOT NULL,
            recorded_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (event_id, message_id)
        );
        COMMENT ON TABLE unresolved_deletions IS
            'Deletions Telegram reported without a chat (private chats, basic groups); never guessed.';

        ALTER TABLE media ADD COLUMN telegram_photo_id bigint;
        CREATE INDEX media_telegram_photo_idx ON media (telegram_photo_id) WHERE telegram_photo_id IS NOT NULL;
        ALTER TABLE media DROP CONSTRAINT media_status_check;
        ALTER TABLE media ADD CONSTRAINT media_status_check CHECK (status IN
            ('stored', 'missing', 'not_included', 'outside_export_root', 'skipped', 'failed', 'no_telegram_client'))
"""


# Each revision runs its own statements and imports no other revision (history never changes), so the
# same few lines stand in several revisions (`duplicates` pairs them).
def upgrade() -> None:
    # asyncpg runs one statement per call; the DDL has no ';' followed by a newline inside literals.
    for statement in SCHEMA.split(";\n"):
        if statement.strip():
            op.execute(statement)


def downgrade() -> None:
    op.execute("DELETE FROM media WHERE status = 'no_telegram_client'")
    op.execute("ALTER TABLE media DROP CONSTRAINT media_status_check")
    op.execute("ALTER TABLE media ADD CONSTRAINT media_status_check CHECK (status IN "
               "('stored', 'missing', 'not_included', 'outside_export_root', 'skipped', 'failed'))")
    op.execute("DROP INDEX media_telegram_photo_idx")
    op.execute("ALTER TABLE media DROP COLUMN telegram_photo_id")
    for table in ("unresolved_deletions", "channel_peers", "message_versions"):
        op.execute(f"DROP TABLE {table}")
    op.execute("DROP INDEX messages_deleted_idx")
    op.execute("ALTER TABLE messages DROP COLUMN deleted_at, DROP COLUMN observed_at")
