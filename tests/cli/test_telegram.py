"""``tgpipe login``, ``tgpipe collector telegram`` and ``tgpipe collector gaps`` as a user runs them,
with the fake Telegram in place of the network (the one thing not real here)."""

from __future__ import annotations

import stat

import pytest
from telethon.crypto import AuthKey
from telethon.sessions import StringSession
from typer.testing import CliRunner

from tgpipe.telegram import session
from tests.support.telegram import FakeTelegram, channel, post
from tests.support.env import settings_env as _env
from tgpipe.cli import app
from tgpipe.errors import ConfigurationError
from tgpipe.settings import Settings



def _session_string() -> str:
    """A well-formed StringSession (data centre 2, an all-zero key): never logged in anywhere."""
    string_session = StringSession()
    string_session.set_dc(2, "149.154.167.51", 443)
    string_session.auth_key = AuthKey(bytes(256))
    return string_session.save()


SECRET = _session_string()


def test_session_file_is_private_and_env_wins(tmp_path):
    path = tmp_path / "sessions" / "telegram.session"
    session.save_session(path, SECRET)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert session.load_session(Settings(home=tmp_path, telegram_session_file=path)) == SECRET
    assert session.load_session(Settings(home=tmp_path, telegram_session_file=path,
                                         telegram_session="from-env")) == "from-env"
    assert session.load_session(Settings(home=tmp_path)) is None  # HOME/telegram.session absent
    assert "from-env" not in repr(Settings(telegram_session="from-env"))

    path.chmod(0o644)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        session.load_session(Settings(home=tmp_path, telegram_session_file=path))
    path.chmod(0o600)
    with pytest.raises(ConfigurationError, match="not a Telethon session"):
        session.open_client(Settings(home=tmp_path, telegram_session="garbage", telegram_api_id=1,
                                     telegram_api_hash="h"))
    with pytest.raises(ConfigurationError, match="TGPIPE_TELEGRAM_API_ID"):
        session.open_client(Settings(home=tmp_path, telegram_session_file=path))
    client = session.open_client(Settings(home=tmp_path, telegram_session_file=path, telegram_api_id=1,
                                          telegram_api_hash="h"), receive_updates=False)
    assert client._client.flood_sleep_threshold == 0  # every FloodWait goes through tgpipe's budget


def test_login_saves_the_session_without_showing_it(tmp_path, monkeypatch):
    async def fake_login(api_id, api_hash, prompt):
        assert (api_id, api_hash) == (12345, "abcdef")
        assert prompt("Login code", False) == "22222"
        return SECRET

    monkeypatch.setattr(session, "login", fake_login)
    target = tmp_path / "s" / "collector-a.session"
    result = CliRunner().invoke(app, ["login", "--session-file", str(target)], input="abcdef\n22222\n",
                                env={"TGPIPE_TELEGRAM_API_ID": "12345", "TGPIPE_HOME": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output and str(target) in " ".join(result.output.split())
    assert target.read_text() == SECRET and stat.S_IMODE(target.stat().st_mode) == 0o600


def test_collector_telegram_command(settings, monkeypatch):
    fake = FakeTelegram()
    fake.add_channel(channel(100, "News", "news"), [post(100, i, f"post {i}") for i in (1, 2, 3)])
    monkeypatch.setattr(session, "open_client", lambda settings, **kwargs: fake)
    env = _env(settings)
    runner = CliRunner()

    result = runner.invoke(app, ["collector", "telegram", "--channel", "@news", "--channel", "@missing",
                                 "--no-follow"], env=env)
    assert result.exit_code == 1, result.output  # one channel was stopped
    output = " ".join(result.output.split())
    assert "@news │ 100 │ News │ 3 │ 0 │ ok" in output
    assert "@missing" in output and "UsernameNotOccupiedError" in output

    gaps = runner.invoke(app, ["collector", "gaps"], env=env)  # database only (no writer ran here)
    assert gaps.exit_code == 0, gaps.output

    assert runner.invoke(app, ["collector", "telegram", "--no-follow"], env=env).exit_code == 2
    monkeypatch.setattr(session, "open_client", lambda settings, **kwargs: None)
    no_session = runner.invoke(app, ["collector", "telegram", "-c", "@news"], env=env)
    assert no_session.exit_code == 2 and "tgpipe login" in no_session.output
