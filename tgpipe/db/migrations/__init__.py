"""Database migrations (Alembic, explicit SQL). Run with ``tgpipe db upgrade``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config


def alembic_config(database_url: str) -> Config:
    """Build the Alembic config for ``database_url`` (a ``postgresql://`` URL; asyncpg is used)."""
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    async_url = database_url.replace("postgresql://", "postgresql+asyncpg://", 1).replace(
        "postgres://", "postgresql+asyncpg://", 1
    )
    config.set_main_option("sqlalchemy.url", async_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision``. Blocking: call it off the event loop (``asyncio.to_thread``)."""
    command.upgrade(alembic_config(database_url), revision)
