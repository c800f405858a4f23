"""The OpenAPI document of the history API, generated from its FastAPI app and kept in the repository."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from services.api.app import create_app
from tgpipe.settings import Settings

#: Where the committed document lives, and the command that refreshes it.
SPEC_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
REFRESH_COMMAND = "./dev tgpipe docs openapi"


def specification() -> dict[str, Any]:
    """The API's OpenAPI 3.1 document as FastAPI generates it (default settings; nothing is started)."""
    return create_app(Settings()).openapi()


def render(spec: dict[str, Any]) -> str:
    """The document as indented JSON (keys in FastAPI's order), ending with a newline."""
    return json.dumps(spec, indent=2, ensure_ascii=False) + "\n"
