"""``tgpipe api`` (the history API on the configured database) and ``tgpipe serve`` (the embedded default)."""

from __future__ import annotations

from typing import Annotated

import typer

from tgpipe.cli.base import CommandTyper
from tgpipe.cli.options import load_settings
from tgpipe.cli.render import console

app = CommandTyper()

HostOpt = Annotated[str | None, typer.Option("--host", help="address to listen on (default TGPIPE_API_HOST, "
                                                            "127.0.0.1)")]
PortOpt = Annotated[int | None, typer.Option("--port", min=1, max=65535,
                                             help="port to listen on (default TGPIPE_API_PORT, 8080)")]


@app.command("api")
def api_cmd(host: HostOpt = None, port: PortOpt = None) -> None:
    """Serve the history API (docs/api.md) on TGPIPE_DATABASE_URL until Ctrl-C."""
    from tgpipe.runtime.api import api_url, run_api

    settings = load_settings(api_host=host, api_port=port)
    console.print(f"tgpipe API at {api_url(settings)}", highlight=False)
    run_api(settings)


@app.command("serve")
def serve_cmd(port: PortOpt = None) -> None:
    """Read the archive: start the embedded PostgreSQL (unless TGPIPE_DATABASE_URL is set) and the API,
    print its URL, and serve until Ctrl-C."""
    from tgpipe.db.migrations import upgrade
    from tgpipe.runtime.api import api_url, run_api
    from tgpipe.runtime.embedded import embedded_settings

    configured = load_settings(api_port=port)
    with embedded_settings(configured, kafka=False) as settings:
        if not configured.database_url:  # the embedded database: ours to migrate (a fresh home has none)
            upgrade(settings.database_url)
        console.print(f"serving the archive at {api_url(settings)} (Ctrl-C to stop)", highlight=False)
        run_api(settings)
