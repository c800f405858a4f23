"""Media kinds are checked: ``media.kind`` and ``messages.media_kind`` hold only the known kinds.

The kinds (``schemas.vocabulary.MediaKind`` when this revision was written; written out here,
since a later change of the enum must not rewrite history): ``photo``, and the export's
``media_type`` values ``video_file``, ``video_message``, ``animation``, ``voice_message``,
``audio_file``, ``sticker``, or ``document`` for a file without one.

Rows written before this revision may name another kind: the collector used to copy any
``media_type`` of an export. They become ``document``, which is what the collector now makes of a
``media_type`` it does not know (the value stays in ``messages.raw``). A media row is renamed only
when its message has no ``document`` row and no second unknown kind (the media key is ``(channel_id,
message_id, kind)``); such a message, which no export can produce, makes the upgrade fail at the
constraint (``media_kind_check``; nothing is changed, the revision is one transaction) rather
than lose a row.

Downgrading drops the checks; renamed kinds stay ``document``.

Revision ID: 0006_kinds
Revises: 0005_order
Create Date: 2026-12-02
"""

from alembic import op

# Alembic's revision header: the same shape in every revision (deliberate; `duplicates` pairs them).
revision = "0006_kinds"
down_revision = "0005_order"
branch_labels = None
depends_on = None

_KINDS = "'photo', 'video_file', 'video_message', 'animation', 'voice_message', 'audio_file', 'sticker', 'document'"

# A media row whose kind is unknown, and whose message has no other row it would collide with.
_RENAMEABLE = f"""md.kind NOT IN ({_KINDS}) AND NOT EXISTS (
    SELECT 1 FROM media o WHERE (o.channel_id, o.message_id) = (md.channel_id, md.message_id)
                            AND o.kind <> md.kind AND (o.kind = 'document' OR o.kind NOT IN ({_KINDS})))"""


def upgrade() -> None:
    op.execute(f"UPDATE messages SET media_kind = 'document' WHERE media_kind NOT IN ({_KINDS})")
    op.execute(f"UPDATE media md SET kind = 'document' WHERE {_RENAMEABLE}")
    op.execute(f"ALTER TABLE messages ADD CONSTRAINT messages_media_kind_check CHECK (media_kind IN ({_KINDS}))")
    op.execute(f"ALTER TABLE media ADD CONSTRAINT media_kind_check CHECK (kind IN ({_KINDS}))")


def downgrade() -> None:
    op.execute("ALTER TABLE media DROP CONSTRAINT media_kind_check")
    op.execute("ALTER TABLE messages DROP CONSTRAINT messages_media_kind_check")
