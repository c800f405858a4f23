"""``tgpipe db upgrade``: apply the database migrations."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from tgpipe.cli.base import CommandTyper
from tgpipe.cli.options import load_settings
from tgpipe.cli.render import console

app = CommandTyper(help="Database administration.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply database migrations (Alembic) up to REVISION."""
    from tgpipe.db import check_database_url
    from tgpipe.db.migrations import upgrade
    from tgpipe.runtime.embedded import embedded_settings

    with embedded_settings(load_settings(), kafka=False) as settings:
        asyncio.run(check_database_url(settings.database_url))
        upgrade(settings.database_url, revision)
    console.print(f"database at revision {revision}")
