"""Every command maps errors to the exit codes of :mod:`tgpipe.cli.status_codes` with one line, no traceback."""

from __future__ import annotations

import socket

from typer.testing import CliRunner

from tgpipe.cli import app, status_codes


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _one_line(output: str) -> str:
    assert "Traceback" not in output, output
    return " ".join(output.split())


def test_verify_on_a_database_not_migrated_says_so(unmigrated_database_url):
    result = CliRunner().invoke(app, ["verify"], env={"TGPIPE_DATABASE_URL": unmigrated_database_url})
    assert result.exit_code == status_codes.NOT_MIGRATED == 2
    assert "invalid configuration: not migrated: run tgpipe db upgrade" in _one_line(result.output)


def test_dlq_list_with_the_broker_unreachable_exits_1(unmigrated_database_url):
    env = {"TGPIPE_DATABASE_URL": unmigrated_database_url,
           "TGPIPE_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{_closed_port()}"}
    result = CliRunner().invoke(app, ["dlq", "list", "--idle-seconds", "0.1"], env=env)
    assert result.exit_code == status_codes.UNREACHABLE == 1
    assert "a server did not answer (try again): KafkaConnectionError" in _one_line(result.output)


def test_interrupted_command_exits_130(monkeypatch, unmigrated_database_url):
    import tgpipe.kafka.dead_letters

    async def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tgpipe.kafka.dead_letters, "read_dead_letters", interrupted)
    env = {"TGPIPE_DATABASE_URL": unmigrated_database_url, "TGPIPE_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"}
    result = CliRunner().invoke(app, ["dlq", "list"], env=env)
    assert result.exit_code == status_codes.INTERRUPTED == 130
    assert "interrupted" in _one_line(result.output)


def test_invalid_setting_exits_2_with_pydantic_message():
    result = CliRunner().invoke(app, ["verify"], env={"TGPIPE_TOPIC_PARTITIONS": "many"})
    assert result.exit_code == status_codes.INVALID_CONFIGURATION == 2
    assert "invalid configuration: TGPIPE_TOPIC_PARTITIONS:" in _one_line(result.output)
