"""Options shared by several commands, and loading the settings they need."""

from __future__ import annotations

from pathlib import Path
from collections.abc import Callable
from typing import Annotated, TypeVar

import typer
from pydantic import ValidationError

from tgpipe.errors import ConfigurationError, ExportError
from tgpipe.settings import Settings

T = TypeVar("T")

ExportPath = Annotated[Path, typer.Option("--export", exists=True, help="Telegram Desktop export folder or result.json")]
TimezoneOpt = Annotated[str | None, typer.Option(
    "--timezone", help="IANA zone of `date` in exports without date_unixtime (default TGPIPE_EXPORT_TIMEZONE; "
                       "such an export is refused without one)")]
ObservedAtOpt = Annotated[str | None, typer.Option(
    "--observed-at", help="when the export was made, ISO 8601 with zone (default TGPIPE_EXPORT_OBSERVED_AT, else "
                          "its newest date); a later time lets this archive correct an earlier one, e.g. dates "
                          "read with a wrong --timezone")]
IdleOpt = Annotated[float, typer.Option("--idle-seconds", min=0.1,
                                        help="stop reading once no dead letter arrived for this long")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]
ChannelOpt = Annotated[list[str] | None, typer.Option(
    "--channel", "-c", help="@username, t.me link or channel id; repeat for several (default TGPIPE_TELEGRAM_CHANNELS)")]
ChatOpt = Annotated[list[str] | None, typer.Option(
    "--chat", "--channel", "-c",
    help="chat id, or a Telegram channel's @username or t.me link; repeat for several (default "
         "TGPIPE_TELEGRAM_CHANNELS, else every archived chat)")]


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment with the options given (``None`` = not given).

    Raises:
        ConfigurationError: a setting is invalid; one line naming each invalid variable.
    """
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"TGPIPE_{'_'.join(map(str, e['loc'])).upper()}: {e['msg'].removeprefix('Value error, ')}"
                             for e in exc.errors())
        raise ConfigurationError(problems) from None


def read_export(read: Callable[[Path, Settings], T], path: Path, settings: Settings) -> T:
    """``read(path, settings)`` (an export job's reader).

    Raises:
        CommandFailed: the export cannot be read at all (exit 2, "cannot read the export: ...").
    """
    from tgpipe.cli.base import CommandFailed
    from tgpipe.cli.status_codes import EXPORT_UNREADABLE

    try:
        return read(path, settings)
    except ExportError as exc:
        raise CommandFailed(f"cannot read the export: {exc}", EXPORT_UNREADABLE) from None


def broker_settings(**overrides: object) -> Settings:
    """:func:`load_settings` for commands that need a broker that keeps its topics.

    Raises:
        ConfigurationError: also when ``TGPIPE_KAFKA_BOOTSTRAP_SERVERS`` is unset.
    """
    settings = load_settings(**overrides)
    if not settings.kafka_bootstrap_servers:
        raise ConfigurationError("TGPIPE_KAFKA_BOOTSTRAP_SERVERS must be set "
                                 "(the embedded broker keeps nothing between runs)")
    return settings


def telegram_client(settings: Settings, *, receive_updates: bool = True):
    """The Telethon client of the configured session (``tgpipe.telegram.session.open_client``).

    Raises:
        ConfigurationError: no session is configured, or it is unusable.
    """
    from tgpipe.telegram import session

    client = session.open_client(settings, receive_updates=receive_updates)
    if client is None:
        raise ConfigurationError(f"no Telegram session: run `tgpipe login` (writes {settings.telegram_session_path}) "
                                 "or set TGPIPE_TELEGRAM_SESSION")
    return client
