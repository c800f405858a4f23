"""Settings from the environment: what an empty variable means."""

from __future__ import annotations

from pathlib import Path

from tgpipe.settings import Settings


def test_an_empty_variable_is_unset_never_the_current_directory(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    for name in ("TGPIPE_HOME", "TGPIPE_MEDIA_ROOT", "TGPIPE_EXPORT_TIMEZONE"):
        monkeypatch.setenv(name, "")
    settings = Settings()
    assert settings.home == (tmp_path / "user" / ".tgpipe").resolve()
    assert settings.media_dir == settings.home / "media"
    assert settings.export_timezone is None
    assert Path.cwd() not in (settings.home, settings.media_dir)
