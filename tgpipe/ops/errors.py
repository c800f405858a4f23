"""Errors of the operator jobs that the CLI maps to their own exit codes (:mod:`tgpipe.cli.base`)."""

from __future__ import annotations

from tgpipe.errors import TgpipeError


class UnknownChannelError(TgpipeError):
    """A channel named by ``@username`` was never resolved by this archive (no ``channel_peers`` row)."""
