"""``tgpipe docs gen|serve``: the AsyncAPI document generated from the FastStream apps (:mod:`tgpipe.ops.asyncapi`);
``tgpipe docs openapi``: the history API's OpenAPI document (:mod:`tgpipe.ops.openapi`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tgpipe.cli.base import CommandTyper
from tgpipe.cli.render import console

app = CommandTyper(help="The AsyncAPI document of tgpipe's topics and events; the API's OpenAPI document.",
                   no_args_is_help=True)


@app.command("gen")
def docs_gen(
    out: Annotated[Path | None, typer.Option("--out", help="where to write it (default docs/asyncapi/asyncapi.yaml)")]
    = None,
) -> None:
    """Generate the AsyncAPI 3.0 document from the writer, media and collector apps (default settings)."""
    from tgpipe.ops.asyncapi import SPEC_PATH, render, specification

    target = out or SPEC_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(specification()), encoding="utf-8")
    console.print(f"wrote {target}")


@app.command("serve")
def docs_serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
) -> None:
    """Serve the AsyncAPI document as HTML (FastStream's viewer) until Ctrl-C."""
    from faststream.specification.asyncapi.site import serve_app

    from tgpipe.ops.asyncapi import load_specification, specification

    serve_app(load_specification(specification()), host, port)


@app.command("openapi")
def docs_openapi(
    out: Annotated[Path | None, typer.Option("--out", help="where to write it (default docs/openapi.json)")] = None,
) -> None:
    """Generate the history API's OpenAPI document from its FastAPI app."""
    from tgpipe.ops.openapi import SPEC_PATH, render, specification

    target = out or SPEC_PATH
    target.write_text(render(specification()), encoding="utf-8")
    console.print(f"wrote {target}")
