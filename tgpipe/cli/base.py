"""The one place where an error becomes an exit code and one printed line (pip's ``base_command``).

Every command is registered through :class:`CommandTyper`, whose ``command`` wraps the callback
in :func:`exit_on_error`: a command raises (or lets through) an error, never prints it itself.
Codes are those of :mod:`tgpipe.cli.status_codes`. The line goes to stderr; with
``TGPIPE_LOG_FORMAT=json`` (read from the environment: the settings may be what failed) it is a
JSON object as the services log them (:class:`tgpipe.logs.JsonFormatter`).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from tgpipe.cli import status_codes
from tgpipe.errors import ConfigurationError, ExportError, TgpipeError, is_transient
from tgpipe.ops.errors import UnknownChannelError

F = TypeVar("F", bound=Callable[..., Any])

errors = Console(stderr=True, soft_wrap=True)


class CommandFailed(Exception):
    """A command's own refusal (bad arguments, nothing to do): ``message`` (one line) and ``code``."""

    def __init__(self, message: str, code: int = status_codes.USAGE) -> None:
        super().__init__(message)
        self.message, self.code = message, code


def describe(exc: BaseException) -> tuple[int, str] | None:
    """The exit code and the line to print for ``exc``; ``None`` for an error that is a bug (it
    keeps its traceback: that is what a report needs) and for typer's own ``Exit``/``Abort``/usage
    errors (they pass through)."""
    if isinstance(exc, CommandFailed):
        return exc.code, exc.message
    if isinstance(exc, ConfigurationError):  # also a database not migrated (tgpipe.db.NOT_MIGRATED)
        return status_codes.INVALID_CONFIGURATION, f"invalid configuration: {exc}"
    if isinstance(exc, UnknownChannelError):
        return status_codes.USAGE, str(exc)
    if isinstance(exc, ExportError):
        return status_codes.EXPORT_UNREADABLE, f"cannot archive: {exc}"
    if isinstance(exc, TgpipeError):
        return status_codes.FAILED, str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return status_codes.INTERRUPTED, "interrupted"
    if isinstance(exc, Exception) and is_transient(exc):  # the broker or the database did not answer
        return status_codes.UNREACHABLE, f"a server did not answer (try again): {type(exc).__name__}: {exc}"
    return None


def print_failure(message: str) -> None:
    """Print ``message`` as one line on stderr (a JSON object with ``TGPIPE_LOG_FORMAT=json``)."""
    log_format = next((v for k, v in os.environ.items() if k.upper() == "TGPIPE_LOG_FORMAT"), "")
    if log_format.lower() == "json":
        from tgpipe.logs import JsonFormatter

        record = logging.makeLogRecord({"name": "tgpipe.cli", "levelname": "ERROR", "levelno": logging.ERROR,
                                        "msg": message})
        typer.echo(JsonFormatter().format(record), err=True)
    else:
        errors.print(message, style="red", markup=False, highlight=False)


def exit_on_error(callback: F) -> F:
    """Wrap a command callback: a known error prints one line and exits with its code."""

    @functools.wraps(callback)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except (Exception, KeyboardInterrupt) as exc:
            described = describe(exc)
            if described is None:
                raise
            code, line = described
            print_failure(line)
            raise typer.Exit(code) from None

    return wrapper  # type: ignore[return-value]


class CommandTyper(typer.Typer):
    """A :class:`typer.Typer` whose commands map errors to exit codes through :func:`exit_on_error`."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[F], F]:  # noqa: D102 - typer's
        register = super().command(*args, **kwargs)

        def decorator(callback: F) -> F:
            register(exit_on_error(callback))
            return callback

        return decorator
