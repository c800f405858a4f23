"""``tgpipe api``: serves the API as a process until SIGINT (exit 130, as any interrupted command); a
database it cannot read is one line, exit 2."""

from __future__ import annotations

import signal

import httpx
import pytest
from typer.testing import CliRunner

from tests.support.api import free_port
from tests.support.processes import service_process
from tests.support.waiting import eventually
from tgpipe.cli import app, status_codes
from tgpipe.settings import Settings


@pytest.mark.parametrize(("command", "says"), [("api", "tgpipe API at"), ("serve", "serving the archive at")])
async def test_the_api_serves_until_interrupted(database_url, tmp_path, command, says):
    """``serve`` on a configured database starts no embedded server (that path is the README's, run by hand)."""
    port = free_port()
    settings = Settings(database_url=database_url, home=tmp_path)
    async with service_process(settings, tmp_path / "api.log", command,
                               extra_env={"TGPIPE_API_PORT": str(port)}) as api:
        async def healthy() -> bool:
            try:
                async with httpx.AsyncClient() as http:
                    return (await http.get(f"http://127.0.0.1:{port}/health")).json() == {"status": "ok"}
            except httpx.TransportError:
                return False

        await eventually(healthy, timeout=60, what="tgpipe api to answer /health")
        assert f"{says} http://127.0.0.1:{port}" in api.log()
        api.signal(signal.SIGINT)  # Ctrl-C: uvicorn shuts down, then the command exits "interrupted"
        assert await api.wait(timeout=30) == status_codes.INTERRUPTED, api.log()
        assert "Application shutdown complete" in api.log()


def test_tgpipe_api_on_a_database_not_migrated_exits_2_with_one_line(unmigrated_database_url):
    result = CliRunner().invoke(app, ["api"], env={"TGPIPE_DATABASE_URL": unmigrated_database_url})
    assert result.exit_code == status_codes.INVALID_CONFIGURATION
    assert "Traceback" not in result.output
    assert "not migrated: run tgpipe db upgrade" in result.output


@pytest.mark.parametrize("args", [["api", "--port", "0"], ["serve", "--port", "70000"]])
def test_a_port_out_of_range_is_a_usage_error(args):
    assert CliRunner().invoke(app, args).exit_code == status_codes.USAGE
