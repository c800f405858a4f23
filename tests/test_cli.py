"""The ``tgpipe`` commands as a user runs them: configuration from TGPIPE_* variables, exit codes, output."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tgpipe.cli import app


def _env(settings) -> dict[str, str]:
    """The TGPIPE_* variables that reproduce ``settings`` (how a deployed service is configured)."""
    env = {}
    for name, value in settings.model_dump(mode="json", exclude_none=True).items():
        env[f"TGPIPE_{name.upper()}"] = json.dumps(value) if isinstance(value, list | dict) else str(value)
    return env


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
    result = CliRunner().invoke(app, ["archive", "--export", str(tiny_export)], env=_env(settings))
    assert result.exit_code == 0, result.output
    assert "verify: clean" in result.output
    assert "outside_export_root" in result.output  # media by status
    assert "'../../etc/passwd' refused" in result.output


def test_verify_json_and_nonzero_exit_on_violation(settings, tiny_export):
    env = _env(settings)
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
