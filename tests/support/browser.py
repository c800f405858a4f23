"""Helpers of the web viewer's browser tests: ``tgpipe api`` as a process, Debian's Chromium driven by
Playwright, and where screenshots go."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import httpx

from tests.support.api import free_port
from tests.support.processes import service_process
from tests.support.waiting import eventually
from tgpipe.settings import Settings

#: Debian's Chromium (``apt-get install chromium``); Playwright's own browser download is never used.
CHROMIUM = Path("/usr/bin/chromium")
#: Where the README's screenshots live; the browser tests rewrite them when TGPIPE_UPDATE_SCREENSHOTS=1.
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@contextlib.asynccontextmanager
async def api_process(settings: Settings, log_path: Path) -> AsyncIterator[str]:
    """``tgpipe api`` on ``settings`` (without a broker) on a free port; yields its base URL once
    ``/health`` answers."""
    port = free_port()
    settings = settings.model_copy(update={"kafka_bootstrap_servers": None})
    async with service_process(settings, log_path, "api", extra_env={"TGPIPE_API_PORT": str(port)}) as api:
        base = f"http://127.0.0.1:{port}"

        async def healthy() -> bool:
            assert api.process and api.process.returncode is None, api.log()
            try:
                async with httpx.AsyncClient() as http:
                    return (await http.get(f"{base}/health")).status_code == 200
            except httpx.TransportError:
                return False

        await eventually(healthy, timeout=60, what="tgpipe api to answer /health")
        yield base


def artifacts_dir(default: Path, env: Mapping[str, str]) -> Path:
    """``TGPIPE_TEST_ARTIFACTS`` of ``env`` (the developer's variables: tests/conftest.py hides them
    from ``os.environ``) when set, else ``default``; created, and printed."""
    folder = Path(env.get("TGPIPE_TEST_ARTIFACTS") or default)
    folder.mkdir(parents=True, exist_ok=True)
    print(f"browser test screenshots: {folder}")
    return folder


def publish_screenshot(path: Path, env: Mapping[str, str]) -> None:
    """Copy screenshot ``path`` to docs/screenshots when ``env`` has TGPIPE_UPDATE_SCREENSHOTS=1 (the README shows them)."""
    if env.get("TGPIPE_UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(exist_ok=True)
        (DOCS_SCREENSHOTS / path.name).write_bytes(path.read_bytes())
