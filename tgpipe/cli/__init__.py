"""The ``tgpipe`` command line (typer); the console script is ``tgpipe.cli:app`` (see :mod:`tgpipe.cli.main`)."""

from tgpipe.cli.main import app

__all__ = ["app"]
