"""The search index of ``message_versions`` collects 16 MB of new entries before merging them.

A GIN index with ``fastupdate`` (the default) appends new entries to a pending list and merges the
list into the index when it exceeds ``gin_pending_list_limit`` (4 MB by default), in the backend
that overflowed it: for the archive, the writer's transaction. A larger list is merged less often,
in larger sorted runs, so each entry costs less: with 16 MB on ``message_versions_search_idx``,
PostgreSQL spent about a quarter less CPU (323 → 234 µs) and 7 % less WAL per written message
(docs/performance.md, "The writer's database work", run D).

Only the versions' index: every search scans the whole pending list, and this one is read only by
searches over every version (``versions=all``); the index of current texts keeps the default.
Nothing stored changes (the entries are the same, found in the list or in the index), so the
digest does not either. Instant: no rewrite, no index rebuild.

Revision ID: 0011_versions_pending_list
Revises: 0010_search_by_date
Create Date: 2026-12-02
"""

from alembic import op

# Alembic's revision header: the same shape in every revision (deliberate; `duplicates` pairs them).
revision = "0011_versions_pending_list"
down_revision = "0010_search_by_date"
branch_labels = None
depends_on = None

#: kB, as PostgreSQL's gin_pending_list_limit.
PENDING_LIST_KB = 16384


def upgrade() -> None:
    op.execute(f"ALTER INDEX message_versions_search_idx SET (gin_pending_list_limit = {PENDING_LIST_KB})")


def downgrade() -> None:
    op.execute("ALTER INDEX message_versions_search_idx RESET (gin_pending_list_limit)")
