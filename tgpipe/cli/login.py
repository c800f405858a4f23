"""``tgpipe login``: a Telegram session for this machine, saved to a file only you can read."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from tgpipe.cli import status_codes
from tgpipe.cli.base import CommandTyper
from tgpipe.cli.options import load_settings
from tgpipe.cli.render import console

app = CommandTyper()


@app.command()
def login(session_file: Annotated[Path | None, typer.Option(
        "--session-file", help="where to save the session (default TGPIPE_TELEGRAM_SESSION_FILE or HOME/telegram.session)")
        ] = None) -> None:
    """Log in to Telegram and save the session string to a file only you can read (0600).

    API id and hash come from TGPIPE_TELEGRAM_API_ID / TGPIPE_TELEGRAM_API_HASH or a prompt. Use one
    session per process: log in once for each collector (and media service) you run.
    """
    from tgpipe.telegram import session

    settings = load_settings(telegram_session_file=session_file)
    api_id = settings.telegram_api_id or typer.prompt("API id (https://my.telegram.org)", type=int)
    api_hash = (settings.telegram_api_hash.get_secret_value() if settings.telegram_api_hash
                else typer.prompt("API hash", hide_input=True))
    path = settings.telegram_session_path
    if path.exists() and not typer.confirm(f"{path} already holds a session; replace it?"):
        raise typer.Exit(status_codes.FAILED)
    secret = asyncio.run(session.login(api_id, api_hash, lambda text, hide: typer.prompt(text, hide_input=hide)))
    session.save_session(path, secret)
    console.print(f"Logged in; session saved to {path} (mode 0600). Anyone who can read it can read the account.",
                  soft_wrap=True)
