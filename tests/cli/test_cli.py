"""The ``tgpipe`` commands as a user runs them: configuration from TGPIPE_* variables, exit codes, output."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import re
import shutil
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from typer.testing import CliRunner

from tests.support.database import database_url_for, fresh_database
from tests.support.env import settings_env
from tgpipe.cli import app


@pytest.fixture
def tiny_export(tmp_path):
    """A two-message channel export: one photo present, one photo path escaping the export root."""
    root = tmp_path / "export"
    (root / "photos").mkdir(parents=True)
    (root / "photos" / "a.jpg").write_bytes(b"\xff\xd8\xff tiny jpeg")
    messages = [
        {"id": 1, "type": "message", "date": "2024-01-01T10:00:00", "date_unixtime": "1704103200",
         "from": "Chan", "from_id": "channel77", "text": ["hi ", {"type": "bold", "text": "there"}],
         "photo": "photos/a.jpg"},
        {"id": 2, "type": "message", "date": "2024-01-01T10:01:00", "date_unixtime": "1704103260",
         "from": "Chan", "from_id": "channel77", "text": "escape", "photo": "../../etc/passwd"},
    ]
    (root / "result.json").write_text(json.dumps({"name": "Chan", "type": "public_channel", "id": 77,
                                                  "messages": messages}))
    return root


def test_archive_prints_summary_and_clean_verify(settings, tiny_export):
    result = CliRunner().invoke(app, ["archive", "--export", str(tiny_export)], env=settings_env(settings))
    assert result.exit_code == 0, result.output
    assert "verify: clean" in result.output
    assert "outside_export_root" in result.output  # media by status
    assert "'../../etc/passwd' refused" in result.output
    coverage = result.output.split("Coverage recorded", 1)[1]
    assert re.search(r"│ 77 +│ 1-2 +│ 2024-01-01T10:00:00\+00:00 ", coverage), coverage  # the export's first..last


def test_verify_json_and_nonzero_exit_on_violation(settings, tiny_export):
    env = settings_env(settings)
    runner = CliRunner()
    assert runner.invoke(app, ["archive", "--export", str(tiny_export)], env=env).exit_code == 0

    clean = runner.invoke(app, ["verify", "--json", "--export", str(tiny_export)], env=env)
    assert clean.exit_code == 0, clean.output
    report = json.loads(clean.output)
    assert report["ok"] is True
    assert report["export"] == [{"channel_id": 77, "messages_export": 2, "messages_db": 2,
                                 "photos_export": 2, "photos_db": 2}]

    # The export now holds a message (with a photo) that the archive lacks: counts differ, exit 1.
    messages = json.loads((tiny_export / "result.json").read_text())
    messages["messages"].append({**messages["messages"][0], "id": 3})
    (tiny_export / "result.json").write_text(json.dumps(messages))
    dirty = runner.invoke(app, ["verify", "--json", "--export", str(tiny_export)], env=env)
    assert dirty.exit_code == 1
    assert json.loads(dirty.output)["export"][0] == {"channel_id": 77, "messages_export": 3, "messages_db": 2,
                                                     "photos_export": 3, "photos_db": 2}


def test_services_refuse_to_start_without_configuration():
    result = CliRunner().invoke(app, ["writer"], env={"TGPIPE_DATABASE_URL": ""})
    assert result.exit_code == 2
    assert "TGPIPE_DATABASE_URL and TGPIPE_KAFKA_BOOTSTRAP_SERVERS must be set" in " ".join(result.output.split())


# --------------------------------------------------------------------------- failures as a user sees them
# `tgpipe` run as a real process, configured by TGPIPE_* variables only (as deployed): what it prints
# on stderr and its exit code.

#: A service's own log line in text format (tgpipe.logs): these may come before the failure.
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING) ")
PASSWORD = "s3cret-pw"


@dataclasses.dataclass
class Run:
    """A finished ``tgpipe`` process."""

    code: int
    stdout: str
    stderr: str

    def failure_line(self, json_logs: bool) -> str:
        """The one line that says why the command failed (log lines aside); fails the test if the
        output is a traceback, or holds more or fewer than one such line."""
        assert "Traceback" not in self.stderr, self.stderr
        lines = self.stderr.splitlines()
        if json_logs:
            records = [json.loads(line) for line in lines]  # every line is a JSON object
            errors = [r["message"] for r in records if r["level"] not in ("DEBUG", "INFO", "WARNING")]
        else:
            errors = [line for line in lines if not LOG_LINE.match(line)]
        assert len(errors) == 1, self.stderr
        return errors[0]


async def tgpipe(env: dict[str, str], *args: str, timeout: float = 120) -> Run:
    """Run ``tgpipe ARGS`` with exactly the TGPIPE_* variables ``env`` and wait (at most ``timeout`` s)."""
    executable = shutil.which("tgpipe", path=str(Path(sys.executable).parent))
    assert executable, "the tgpipe console script is not installed beside this interpreter"
    process = await asyncio.create_subprocess_exec(
        executable, *args, env={**{k: v for k, v in os.environ.items() if not k.startswith("TGPIPE_")}, **env},
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except BaseException as exc:  # a timeout, or the test cancelled it: never leave the process behind
        if process.returncode is None:
            process.kill()
            await process.wait()
        if isinstance(exc, TimeoutError):
            raise AssertionError(f"tgpipe {' '.join(args)} still running after {timeout} s") from None
        raise
    return Run(process.returncode, stdout.decode(errors="replace"), stderr.decode(errors="replace"))


def _with_user(url: str, user: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{user}:{PASSWORD}@{parts.netloc.rpartition('@')[2]}"))


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


BAD_URLS = {
    "unknown database": (lambda url: database_url_for(url, "tgpipe_no_such_database"),
                         'database "tgpipe_no_such_database" does not exist'),
    "unknown role": (lambda url: _with_user(url, "tgpipe_no_such_role"), "tgpipe_no_such_role"),
    "port abc": (lambda url: f"postgresql://postgres:{PASSWORD}@127.0.0.1:abc/postgres",
                 "TGPIPE_DATABASE_URL: port 'abc' is not a number"),
    "scheme": (lambda url: f"mysql://root:{PASSWORD}@127.0.0.1/tgpipe",
               "TGPIPE_DATABASE_URL: must be a postgresql:// URL"),
}


@pytest.mark.parametrize(("case", "command", "json_logs"), [
    ("unknown database", "writer", False), ("unknown database", "writer", True), ("unknown role", "writer", False),
    ("port abc", "writer", True), ("scheme", "writer", False), ("unknown database", "media", True),
    ("unknown database", "collector gaps", False), ("port abc", "collector gaps", True),
])
async def test_contract_S3_bad_database_url_fails_at_once_in_one_line(settings, postgres_url, case, command,
                                                                      json_logs):
    make_url, expected = BAD_URLS[case]
    env = {**settings_env(settings), "TGPIPE_DATABASE_URL": make_url(postgres_url),
           "TGPIPE_LOG_FORMAT": "json" if json_logs else "text"}
    # A URL that can never work is not waited for: start-up would wait for 10 minutes.
    run = await tgpipe({**env, "TGPIPE_STARTUP_TIMEOUT_S": "600"}, *command.split())
    line = run.failure_line(json_logs)
    assert run.code == 2, run.stderr
    assert line.startswith("invalid configuration: ") and expected in line, line
    assert PASSWORD not in run.stderr + run.stdout


@pytest.mark.parametrize(("command", "json_logs"), [("writer", True), ("media", False), ("verify", False),
                                                    ("collector gaps", False), ("status", True)])
async def test_contract_S3_unmigrated_database_fails_at_once_in_one_line(settings, postgres_url, command, json_logs):
    async with fresh_database(postgres_url, None) as empty:
        env = {**settings_env(settings), "TGPIPE_DATABASE_URL": empty, "TGPIPE_LOG_FORMAT": "json" if json_logs else "text"}
        run = await tgpipe(env, *command.split())
    assert run.code == 2, run.stderr
    assert run.failure_line(json_logs) == ("invalid configuration: not migrated: run tgpipe db upgrade "
                                           "(the database has no tgpipe tables)")


@pytest.mark.parametrize("command", ["writer", "collector export", "archive --export"])
async def test_contract_S3_broker_without_idempotent_producer_names_the_setting(settings, kafka, tiny_export,
                                                                                command):
    if not kafka.is_tansu:
        pytest.skip("Apache Kafka serves the idempotent producer; this is about a broker that does not (Tansu)")
    env = {**settings_env(settings), "TGPIPE_KAFKA_ENABLE_IDEMPOTENCE": "true"}
    run = await tgpipe(env, *command.split(), *([str(tiny_export)] if command != "writer" else []))
    assert run.code == 2, run.stderr
    line = run.failure_line(json_logs=False)
    assert line.startswith(f"invalid configuration: the broker at {settings.kafka_bootstrap_servers} refused the "
                           "idempotent producer (InitProducerId: UnknownError)"), line
    assert "set TGPIPE_KAFKA_ENABLE_IDEMPOTENCE=false" in line
    assert "Unclosed" not in run.stderr  # the producer that tried was closed


async def test_contract_S3_database_not_answering_is_waited_for_a_bounded_time(settings):
    port = _free_port()  # nobody listens there: connections are refused, which a retry may fix
    env = {**settings_env(settings), "TGPIPE_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/postgres",
           "TGPIPE_STARTUP_TIMEOUT_S": "2"}
    run = await tgpipe(env, "writer")
    assert run.code == 1, run.stderr
    assert "waiting for PostgreSQL (ConnectionRefusedError" in run.stderr  # it did wait (S1)
    line = run.failure_line(json_logs=False)
    assert line.startswith("PostgreSQL did not answer within 2 s (TGPIPE_STARTUP_TIMEOUT_S): ConnectionRefusedError"), \
        line


@pytest.mark.parametrize("command", ["verify", "collector gaps"])
async def test_a_command_whose_database_does_not_answer_fails_in_one_line(settings, command):
    env = {**settings_env(settings), "TGPIPE_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{_free_port()}/postgres"}
    run = await tgpipe(env, *command.split())
    assert run.code == 1, run.stderr
    assert run.failure_line(json_logs=False).startswith(
        "a server did not answer (try again): ConnectionRefusedError: "), run.stderr


async def _answers(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


@pytest.mark.parametrize(("configured", "other"), [(None, "127.0.0.2"), ("127.0.0.2", "127.0.0.1")])
async def test_metrics_server_binds_the_configured_host(settings, configured, other):
    """Default 127.0.0.1: reachable from this host only; TGPIPE_METRICS_HOST picks the address."""
    port = _free_port()
    env = {**settings_env(settings), "TGPIPE_METRICS_PORT": str(port),
           # No broker: the writer waits for Kafka, its health server up meanwhile.
           "TGPIPE_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{_free_port()}"}
    if configured:
        env["TGPIPE_METRICS_HOST"] = configured
    task = asyncio.create_task(tgpipe(env, "writer", timeout=60))
    try:
        async with asyncio.timeout(30):
            while not await _answers(configured or "127.0.0.1", port):
                assert not task.done(), (await task).stderr
                await asyncio.sleep(0.1)
        assert not await _answers(other, port)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
