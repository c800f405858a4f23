"""Where an interrupted ``tgpipe archive`` resumes: per export and chat, the payloads already archived.

``archive_checkpoints`` holds, per export identity (a SHA-256 of the export file's size, head and
tail and of the reading options, :func:`tgpipe.ops.exports.export_identity`) and chat, how many of
the chat's payloads, in export order, are archived for good: committed by the writer and their
media rows written (or superseded, refused, dead-lettered). Written by ``tgpipe archive`` only
(:mod:`tgpipe.db.checkpoints`), and emptied for an export once a run of it completes.

Numbered 0012: 0011 is taken by a writer change made at the same time. Until that one is
merged this revision follows 0010; merged after it, ``down_revision`` becomes 0011's.

Revision ID: 0012_archive_checkpoints
Revises: 0011_versions_pending_list
Create Date: 2026-12-02
"""

from alembic import op

# Alembic's revision header: the same shape in every revision (deliberate; `duplicates` pairs them).
revision = "0012_archive_checkpoints"
down_revision = "0011_versions_pending_list"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE archive_checkpoints (
            export_identity text NOT NULL CHECK (length(export_identity) = 64),
            channel_id bigint NOT NULL,
            payloads_done bigint NOT NULL CHECK (payloads_done >= 0),
            PRIMARY KEY (export_identity, channel_id)
        )""")


def downgrade() -> None:
    op.execute("DROP TABLE archive_checkpoints")
