"""A message's current text version is stored once, in ``messages``, no longer again in ``message_versions``.

Before, the ``message_versions`` row of every message repeated its current text, entities,
``search_text`` and ``search_vector`` (and the vector's GIN entries): about 1 KB of the 1.35 KB a
versions row took per message, for the one version most messages ever have. Now the row of a
message's current version keeps its key (``text_sha256``) and dates, and NULL ``text``,
``entities``, ``search_text`` and ``search_vector``: those are the ``messages`` row's. A row
superseded by an edit gets its text back (the writer, ``services.writer.persist``, in the
statement that replaces the current version); one that becomes current again loses it. Exactly
one row per message has NULL text: the current version's (``tgpipe verify``,
``messages_without_current_version``). Readers take the text of a NULL row from ``messages``
(:data:`tgpipe.db.TEXT_VERSIONS`); a search over every version (``versions=all``) reads the current
texts from ``messages`` and the superseded ones from ``message_versions``.

Upgrade: empties the current version's row of every message (an ``UPDATE`` of every version row:
the table's space is reused by later rows, and returned to the file system only by
``VACUUM FULL message_versions``). Downgrade: copies the texts and search columns back from
``messages`` (they are the same: one text, one :func:`tgpipe.db.search.document`).

A generated 300k-message archive: ``message_versions`` 418 → 99 MB, the database 1,015 → 696 MB;
an archive of 0012 migrated has the same digest as one the new writer wrote (docs/performance.md,
"Disk").

Revision ID: 0013_current_version_once
Revises: 0012_archive_checkpoints
Create Date: 2026-12-02
"""

from alembic import op

# Alembic's revision header: the same shape in every revision (deliberate; `duplicates` pairs them).
revision = "0013_current_version_once"
down_revision = "0012_archive_checkpoints"
branch_labels = None
depends_on = None

# The version hash of migration 0002 and the writer, of a messages row m.
_CURRENT = ("v.channel_id = m.channel_id AND v.message_id = m.message_id AND "
            "v.text_sha256 = encode(sha256(convert_to(m.text || chr(31) || m.entities::text, 'UTF8')), 'hex')")


def upgrade() -> None:
    op.execute("ALTER TABLE message_versions ALTER COLUMN text DROP NOT NULL, ALTER COLUMN entities DROP NOT NULL")
    op.execute("UPDATE message_versions v SET text = NULL, entities = NULL, search_text = NULL, search_vector = NULL "
               f"FROM messages m WHERE {_CURRENT}")
    op.execute("ALTER TABLE message_versions ADD CONSTRAINT message_versions_text_check "
               "CHECK ((text IS NULL) = (entities IS NULL))")
    op.execute("COMMENT ON TABLE message_versions IS 'Every distinct text version of a message (text + entities); "
               "the current one''s text, entities and search columns are NULL here: they are its messages row''s.'")


def downgrade() -> None:
    op.execute("ALTER TABLE message_versions DROP CONSTRAINT message_versions_text_check")
    op.execute("UPDATE message_versions v SET text = m.text, entities = m.entities, search_text = m.search_text, "
               "search_vector = m.search_vector FROM messages m "
               "WHERE v.text IS NULL AND v.channel_id = m.channel_id AND v.message_id = m.message_id")
    op.execute("ALTER TABLE message_versions ALTER COLUMN text SET NOT NULL, ALTER COLUMN entities SET NOT NULL")
    op.execute("COMMENT ON TABLE message_versions IS 'Every distinct text version of a message (text + entities).'")
