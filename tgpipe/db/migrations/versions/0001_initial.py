"""Initial schema: channels, senders, messages, media.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


SCHEMA = """
        CREATE TABLE channels (
            channel_id  bigint PRIMARY KEY,
            type        text NOT NULL,
            title       text
        );
        COMMENT ON TABLE channels IS 'Chats of every type (channel, group, private, bot); bare Telegram ids.';

        CREATE TABLE senders (
            peer_type   text   NOT NULL CHECK (peer_type IN ('user', 'channel', 'chat')),
            peer_id     bigint NOT NULL,
            name        text,
            PRIMARY KEY (peer_type, peer_id)
        );

        CREATE TABLE messages (
            channel_id          bigint      NOT NULL REFERENCES channels (channel_id),
            message_id          bigint      NOT NULL,
            kind                text        NOT NULL CHECK (kind IN ('message', 'service')),
            date                timestamptz NOT NULL,
            edit_date           timestamptz,
            sender_type         text,
            sender_id           bigint,
            text                text        NOT NULL DEFAULT '',
            entities            jsonb       NOT NULL DEFAULT '[]',
            reply_to_message_id bigint,
            reply_to_peer       text,
            forwarded_from      text,
            post_author         text,
            action              text,
            reactions           jsonb,
            grouped_id          bigint,
            media_kind          text,
            raw                 jsonb       NOT NULL,
            source_event_id     uuid        NOT NULL,
            archived_at         timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (channel_id, message_id),
            FOREIGN KEY (sender_type, sender_id) REFERENCES senders (peer_type, peer_id),
            CHECK ((sender_type IS NULL) = (sender_id IS NULL))
        );
        CREATE INDEX messages_sender_idx ON messages (sender_type, sender_id);

        CREATE TABLE media (
            channel_id   bigint      NOT NULL,
            message_id   bigint      NOT NULL,
            kind         text        NOT NULL,
            status       text        NOT NULL CHECK (status IN
                             ('stored', 'missing', 'not_included', 'outside_export_root', 'skipped', 'failed')),
            sha256       text        CHECK (sha256 ~ '^[0-9a-f]{64}$'),
            size_bytes   bigint,
            mime_type    text,
            width        integer,
            height       integer,
            source_path  text,
            error        text,
            attempts     integer     NOT NULL DEFAULT 1,
            updated_at   timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (channel_id, message_id, kind),
            FOREIGN KEY (channel_id, message_id) REFERENCES messages (channel_id, message_id),
            CHECK ((status = 'stored') = (sha256 IS NOT NULL))
        );
        CREATE INDEX media_sha256_idx ON media (sha256);
"""


def upgrade() -> None:
    # asyncpg runs one statement per call; the DDL has no ';' followed by a newline inside literals.
    for statement in SCHEMA.split(";\n"):
        if statement.strip():
            op.execute(statement)


def downgrade() -> None:
    for table in ("media", "messages", "senders", "channels"):
        op.execute(f"DROP TABLE {table}")
