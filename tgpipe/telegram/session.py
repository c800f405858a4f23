"""The Telethon session: ``tgpipe login``, where the session string is kept, and building a client.

A session string is a login: whoever has it can read the account. It is kept either in
``TGPIPE_TELEGRAM_SESSION`` or in a file (``telegram_session_file``, default
``HOME/telegram.session``) that only its owner can read (mode 0600; a file others can read is
refused). It is never logged or printed.

One session per process: Telegram invalidates a session used from two connections at once.
Run each collector (and each media service that downloads from Telegram) with its own session
(``tgpipe login`` once per process, with ``TGPIPE_TELEGRAM_SESSION_FILE`` set apart).
"""

from __future__ import annotations

import os
import stat
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path

from telethon import TelegramClient as _Telethon
from telethon.sessions import StringSession

from tgpipe.telegram.client import TelethonClient
from tgpipe.errors import ConfigurationError
from tgpipe.settings import Settings


def save_session(path: Path, session: str) -> None:
    """Write ``session`` to ``path`` atomically, readable by its owner only (0600; folder 0700 if created)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".session-")  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(session)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_session(settings: Settings) -> str | None:
    """The session string: ``TGPIPE_TELEGRAM_SESSION``, else the session file, else ``None``.

    Raises:
        ConfigurationError: the session file can be read by its group or others.
    """
    if settings.telegram_session is not None:
        return settings.telegram_session.get_secret_value().strip() or None
    path = settings.telegram_session_path
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigurationError(f"the Telegram session file {path} is accessible to other users "
                                 f"(mode {stat.S_IMODE(mode):o}); run `chmod 600 {path}`")
    return path.read_text(encoding="ascii").strip() or None


def _api_credentials(settings: Settings) -> tuple[int, str]:
    if settings.telegram_api_id is None or settings.telegram_api_hash is None:
        raise ConfigurationError("TGPIPE_TELEGRAM_API_ID and TGPIPE_TELEGRAM_API_HASH must be set "
                                 "(from https://my.telegram.org) to use a Telegram session")
    return settings.telegram_api_id, settings.telegram_api_hash.get_secret_value()


def open_client(settings: Settings, *, receive_updates: bool = True) -> TelethonClient | None:
    """The Telegram client of this process, or ``None`` when no session is configured.

    Nothing connects yet (the client connects on first use). ``receive_updates=False`` for a
    process that only downloads (the media service).

    Raises:
        ConfigurationError: a session exists but the API id/hash are missing, or the file is unsafe.
    """
    session = load_session(settings)
    if session is None:
        return None
    api_id, api_hash = _api_credentials(settings)
    try:
        string_session = StringSession(session)
    except (ValueError, struct.error):  # not what `tgpipe login` wrote
        raise ConfigurationError("the Telegram session is not a Telethon session string (run `tgpipe login`)") from None
    return TelethonClient(_Telethon(string_session, api_id, api_hash, flood_sleep_threshold=0,
                                    receive_updates=receive_updates, auto_reconnect=True,
                                    connection_retries=10, retry_delay=2))


async def login(api_id: int, api_hash: str, prompt: Callable[[str, bool], str]) -> str:
    """Log in interactively (phone, code, 2FA password through ``prompt(text, hide)``) and
    return the new session string. Needs the Telegram network."""
    client = _Telethon(StringSession(), api_id, api_hash)
    try:
        await client.start(phone=lambda: prompt("Phone number (international format)", False),
                           code_callback=lambda: prompt("Login code", False),
                           password=lambda: prompt("Two-step verification password", True))
        return StringSession.save(client.session)
    finally:
        await client.disconnect()
