"""Media statuses ``export_root_not_allowed``, ``not_regular_file``, ``too_large`` (hardened reads).

* ``export_root_not_allowed``: the event's export root is not under any directory of
  ``TGPIPE_MEDIA_EXPORT_ROOTS``; nothing was opened.
* ``not_regular_file``: the path names a FIFO, a device, a socket, a directory or a file of
  ``/proc`` or ``/sys``; it was not read.
* ``too_large``: the file is over the size cap of its kind (``TGPIPE_MEDIA_MAX_BYTES``); not stored.

Rows of the earlier statuses are unchanged. A ``photo`` folder that used to be ``missing`` becomes
``not_regular_file`` when its committed event comes again (``missing`` rows are re-read).
Downgrading deletes the rows with the new statuses (the older code re-reads them, checks aside).

Revision ID: 0004_media
Revises: 0003_not_image
Create Date: 2026-12-02
"""

from alembic import op

# Alembic's revision header: the same shape in every revision (deliberate; `duplicates` pairs them).
revision = "0004_media"
down_revision = "0003_not_image"
branch_labels = None
depends_on = None

_STATUSES = ("'stored', 'missing', 'not_included', 'outside_export_root', 'skipped', 'failed', "
             "'no_telegram_client', 'not_image'")
_NEW = "'export_root_not_allowed', 'not_regular_file', 'too_large'"


def upgrade() -> None:
    op.execute("ALTER TABLE media DROP CONSTRAINT media_status_check")
    op.execute(f"ALTER TABLE media ADD CONSTRAINT media_status_check CHECK (status IN ({_STATUSES}, {_NEW}))")


def downgrade() -> None:
    op.execute(f"DELETE FROM media WHERE status IN ({_NEW})")
    op.execute("ALTER TABLE media DROP CONSTRAINT media_status_check")
    op.execute(f"ALTER TABLE media ADD CONSTRAINT media_status_check CHECK (status IN ({_STATUSES}))")
