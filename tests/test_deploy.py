"""The deployment files: docker-compose.yml, Dockerfile, .dockerignore. No Docker engine needed.

* docker-compose.yml is validated against the official Compose Specification JSON schema, as
  vendored by check-jsonschema (``--builtin-schema vendor.compose-spec``).
* Where a Docker Compose v2 binary is installed (``docker compose`` or ``docker-compose``), the
  file also goes through ``compose config``, the real loader (interpolation, profiles,
  references); elsewhere that test is skipped.
* The wiring is checked against the code: every tgpipe service's command is a real command of
  ``tgpipe.cli.app``, every ``TGPIPE_*`` variable names a :class:`Settings` field and parses,
  dependencies wait on health checks and one-shot jobs, the topics keep everything.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import typer.main
import yaml
from typer.testing import CliRunner

from tgpipe.cli import app
from tgpipe.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"

TGPIPE_SERVICES = {"migrate", "writer", "media", "collector", "collector-telegram", "api"}
CONSUMERS = ("writer", "media")
ONE_SHOT = {"migrate", "kafka-init"}
HEALTH_CHECKED = {"kafka", "postgres"}
TOPIC_DEFAULTS = {name: Settings.model_fields[f"topic_{name}"].default
                  for name in ("messages", "committed", "dead_letter", "fetch_requests")}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict[str, dict]:
    return compose["services"]


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ``${NAME}``, ``${NAME:-default}`` and ``${NAME:?message}``, enough for this file."""
    def sub(match: re.Match) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if env.get(name):
            return env[name]
        if op == ":?":
            raise LookupError(f"{name}: {arg}")
        return arg or ""
    return re.sub(r"\$\{([A-Z0-9_]+)(?:(:-|:\?)([^}]*))?\}", sub, value)


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
            for line in lines if line and not line.startswith("#")]


# ---- the compose file is valid Compose ---------------------------------------------------

def _check_jsonschema(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True, text=True, timeout=120)


def test_compose_file_matches_the_compose_spec_schema():
    result = _check_jsonschema(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_an_invalid_file(tmp_path: Path):
    broken = COMPOSE.read_text().replace("condition: service_healthy", "condition: healthy", 1)
    assert broken != COMPOSE.read_text()
    (tmp_path / "docker-compose.yml").write_text(broken)
    result = _check_jsonschema(tmp_path / "docker-compose.yml")
    assert result.returncode != 0 and "healthy" in result.stdout + result.stderr


def _compose_binary() -> list[str] | None:
    candidates = []
    if docker := shutil.which("docker"):
        candidates.append([docker, "compose"])
    if docker_compose := shutil.which("docker-compose"):
        candidates.append([docker_compose])
    for cmd in candidates:
        try:
            out = subprocess.run([*cmd, "version", "--short"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0 and re.match(r"v?([2-9]|\d{2,})\.", out.stdout.strip()):
            return cmd
    return None


def test_compose_config_with_the_real_compose_loader(tmp_path: Path):
    """``compose config`` loads the file as ``up`` would; copied away from any developer's .env."""
    cmd = _compose_binary()
    if cmd is None:
        pytest.skip("no Docker Compose v2 binary (docker compose / docker-compose) on PATH")
    shutil.copy(COMPOSE, tmp_path / "docker-compose.yml")
    base_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("TGPIPE_", "COMPOSE_", "POSTGRES_", "KAFKA_"))}

    def config(*args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([*cmd, "--project-directory", str(tmp_path), *args, "config", "--quiet"],
                              cwd=tmp_path, env={**base_env, **env}, capture_output=True, text=True,
                              timeout=60)

    ok = config(POSTGRES_PASSWORD="x")
    assert ok.returncode == 0, ok.stderr
    # The collect profile loads without TGPIPE_EXPORT_NAME (a required variable there would
    # also break a plain `up`), and with it.
    for env in ({}, {"TGPIPE_EXPORT_NAME": "ChatExport"}):
        collect = config("--profile", "collect", POSTGRES_PASSWORD="x", **env)
        assert collect.returncode == 0, collect.stderr
    missing = config()
    assert missing.returncode != 0 and "POSTGRES_PASSWORD" in missing.stderr


# ---- services and the CLI ----------------------------------------------------------------

def test_tgpipe_services_are_the_ones_built_from_the_dockerfile(services: dict):
    built = {name for name, svc in services.items() if svc.get("build") in (".", {"context": "."})}
    assert built == TGPIPE_SERVICES
    images = {services[name]["image"] for name in built}
    assert len(images) == 1, f"one image for all tgpipe services, got {images}"
    for name in built:
        assert "entrypoint" not in services[name], f"{name}: the command must follow ENTRYPOINT tgpipe"


def test_dockerfile_entrypoint_is_the_tgpipe_console_script():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["tgpipe"] == "tgpipe.cli:app"
    entrypoints = [arg for op, arg in _dockerfile_instructions() if op == "ENTRYPOINT"]
    assert entrypoints[-1] == '["tgpipe"]'


def _command_words(words: list[str]) -> list[str]:
    """The words of ``words`` that name (sub)commands of ``tgpipe``, up to the first argument.

    A group is recognised by its ``commands`` mapping: typer ships its own copy of click, so
    ``isinstance(..., click.Group)`` is not a test.
    """
    command, used = typer.main.get_command(app), []
    for word in words:
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            break
        assert word in subcommands, f"{word!r} is not a command of {' '.join(['tgpipe', *used])!r}"
        command, used = subcommands[word], [*used, word]
    assert getattr(command, "commands", None) is None, f"{' '.join(['tgpipe', *used])!r} is a group"
    return used


def test_command_words_stop_at_the_first_argument_and_reject_unknown_commands():
    assert _command_words(["collector", "export", "/exports/x"]) == ["collector", "export"]
    assert _command_words(["db", "upgrade", "head"]) == ["db", "upgrade"]
    with pytest.raises(AssertionError, match="writers"):
        _command_words(["writers"])
    with pytest.raises(AssertionError, match="group"):
        _command_words(["db"])


@pytest.mark.parametrize("name", sorted(TGPIPE_SERVICES))
def test_service_command_is_a_real_cli_command(services: dict, name: str):
    command = services[name]["command"]
    assert isinstance(command, list) and command, f"{name}: command must be an exec-form list"
    words = _command_words(command)
    result = CliRunner().invoke(app, [*words, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_shared_environment_names_settings_fields_and_parses(services: dict, monkeypatch):
    env = {"POSTGRES_PASSWORD": "secret"}
    for name in TGPIPE_SERVICES - {"collector-telegram", "media", "api"}:
        variables = services[name]["environment"]
        assert variables == services["writer"]["environment"], f"{name}: not the shared x-tgpipe-env"
    media = services["media"]["environment"]  # the shared environment and its own export roots
    shared = {k: v for k, v in media.items() if k != "TGPIPE_MEDIA_EXPORT_ROOTS"}
    assert shared == services["writer"]["environment"]
    api = services["api"]["environment"]  # the shared environment and where it listens, its token
    assert {k: v for k, v in api.items() if not k.startswith("TGPIPE_API_")} == services["writer"]["environment"]
    telegram = services["collector-telegram"]["environment"]
    assert telegram.items() >= services["writer"]["environment"].items()
    assert all(key.startswith("TGPIPE_TELEGRAM_") for key in set(telegram) - set(services["writer"]["environment"]))
    variables = services["writer"]["environment"]
    for key, value in variables.items():
        field = key.removeprefix("TGPIPE_").lower()
        assert key.startswith("TGPIPE_") and field in Settings.model_fields, f"{key} is no Settings field"
        monkeypatch.setenv(key, _interpolate(str(value), env))
    settings = Settings()
    assert settings.database_url == "postgresql://tgpipe:secret@postgres:5432/tgpipe"
    assert settings.kafka_bootstrap_servers == "kafka:9092"
    assert settings.kafka_enable_idempotence is True
    assert settings.kafka_acks == "all"
    with pytest.raises(LookupError, match="POSTGRES_PASSWORD"):
        _interpolate(variables["TGPIPE_DATABASE_URL"], {})


# ---- start order, health, restart ------------------------------------------------------

def test_kafka_and_postgres_have_healthchecks(services: dict):
    checks = {name: services[name]["healthcheck"]["test"] for name in HEALTH_CHECKED}
    kafka_tools = ("kafka-broker-api-versions.sh", "kafka-topics.sh")
    assert any(tool in word for tool in kafka_tools for word in checks["kafka"])
    assert "pg_isready" in checks["postgres"]


def test_dependencies_wait_for_health_and_one_shot_jobs(services: dict):
    expected = {**dict.fromkeys(HEALTH_CHECKED, "service_healthy"),
                **dict.fromkeys(ONE_SHOT, "service_completed_successfully")}
    for name, svc in services.items():
        depends = svc.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: list-form depends_on only waits for a start"
        for dependency, options in depends.items():
            assert options.get("condition") == expected[dependency], f"{name} -> {dependency}"
    for name in ("writer", "media"):
        assert set(services[name]["depends_on"]) == HEALTH_CHECKED | ONE_SHOT
        assert services[name]["restart"] == "unless-stopped"
    assert set(services["migrate"]["depends_on"]) == {"postgres"}
    assert set(services["collector"]["depends_on"]) >= {"kafka", "kafka-init"}
    for name in ONE_SHOT | {"collector"}:
        assert services[name]["restart"] == "no"
    assert services["collector"]["profiles"] == ["collect"]


def test_the_api_reads_the_database_and_the_media_store_and_is_checked_by_its_health_endpoint(
        services: dict, monkeypatch):
    api = services["api"]
    assert set(api["depends_on"]) == {"postgres", "migrate"}  # reading needs no broker
    assert api["restart"] == "unless-stopped"
    assert "media-store:/var/lib/tgpipe/media:ro" in api["volumes"]
    for key, value in api["environment"].items():
        monkeypatch.setenv(key, _interpolate(str(value), {"POSTGRES_PASSWORD": "secret"}))
    settings = Settings()
    assert (settings.api_host, settings.api_port, settings.api_token) == ("0.0.0.0", 8080, None)
    check = " ".join(api["healthcheck"]["test"])
    assert f"http://127.0.0.1:{settings.api_port}/health" in check
    assert all(port.startswith("127.0.0.1:") and port.endswith(f":{settings.api_port}") for port in api["ports"])


def test_consumer_services_can_be_scaled(services: dict):
    for name in ("writer", "media"):
        assert "container_name" not in services[name] and "ports" not in services[name]


# ---- Kafka and topics --------------------------------------------------------------------

def test_kafka_is_a_single_kraft_node_without_topic_auto_creation(services: dict):
    kafka = services["kafka"]
    assert re.fullmatch(r"apache/kafka:(3\.9|4\.\d+)\.\d+", kafka["image"])
    env = {k: str(v) for k, v in kafka["environment"].items()}
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    for key in ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
                "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"):
        assert env[key] == "1"
    assert "kafka-data:/var/lib/kafka/data" in kafka["volumes"]


def _created_topics(services: dict) -> dict[str, list[str]]:
    script = services["kafka-init"]["command"][0]
    created = {}
    for line in script.splitlines():
        words = shlex.split(line)
        if "--create" in words:
            created[words[words.index("--topic") + 1]] = words
    return created


def test_kafka_init_creates_the_topics_with_explicit_partitions(services: dict):
    created = _created_topics(services)
    assert set(created) == set(TOPIC_DEFAULTS.values())
    for words in created.values():
        assert words[words.index("--partitions") + 1] == "${TGPIPE_TOPIC_PARTITIONS:-6}"
        assert "--if-not-exists" in words
    assert services["writer"]["environment"]["TGPIPE_TOPIC_PARTITIONS"] == "${TGPIPE_TOPIC_PARTITIONS:-6}"


def test_messages_topics_keep_everything_and_are_never_compacted(services: dict):
    created = _created_topics(services)
    for topic in (TOPIC_DEFAULTS["messages"], TOPIC_DEFAULTS["committed"]):
        configs = [created[topic][i + 1] for i, w in enumerate(created[topic]) if w == "--config"]
        assert "retention.ms=-1" in configs, topic
    assert "compact" not in services["kafka-init"]["command"][0]


# ---- volumes, mounts, image --------------------------------------------------------------

def test_volumes_and_the_shared_exports_mount(compose: dict, services: dict):
    assert {"pgdata", "media-store", "kafka-data"} <= set(compose["volumes"])
    assert "pgdata:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "media-store:/var/lib/tgpipe/media" in services["media"]["volumes"]
    exports = "${TGPIPE_EXPORTS_DIR:-./exports}:/exports:ro"
    # The media service reads files by the absolute export path the collector put in the event.
    assert exports in services["media"]["volumes"] and exports in services["collector"]["volumes"]
    assert services["collector"]["command"][2].startswith("/exports/")
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")


def test_dockerfile_is_multi_stage_non_root_with_the_media_root():
    instructions = _dockerfile_instructions()
    args = dict(arg.split("=", 1) for op, arg in instructions if op == "ARG" and "=" in arg)
    stages = [arg.split()[0] for op, arg in instructions if op == "FROM"]
    assert len(stages) >= 2
    assert re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], stages[-1]) == "python:3.11-slim"
    final = instructions[max(i for i, (op, _) in enumerate(instructions) if op == "FROM"):]
    user = [arg for op, arg in final if op == "USER"][-1]
    assert user.split(":")[0] not in ("root", "0")
    env = " ".join(arg for op, arg in final if op == "ENV")
    assert "TGPIPE_HOME=/var/lib/tgpipe" in env and "TGPIPE_MEDIA_ROOT=/var/lib/tgpipe/media" in env
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "exports", ".env"} <= set(ignored)


# ---- observability, static membership, the Telegram collector ---------------------------

def _ready_check(services: dict, name: str) -> list[str]:
    test = services[name]["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1] == "python", f"{name}: the image has python, not curl"
    return test[1:]


def test_consumers_expose_metrics_inside_the_network_and_check_readiness(services: dict):
    port = _interpolate(str(services["writer"]["environment"]["TGPIPE_METRICS_PORT"]), {})
    assert Settings(metrics_port=port).metrics_port > 0
    for name in CONSUMERS:
        assert [str(p) for p in services[name]["expose"]] == [port]
        assert "ports" not in services[name]  # nothing published on the host; scaling stays possible
        assert f"http://127.0.0.1:{port}/health/ready" in " ".join(_ready_check(services, name))
    assert services["writer"]["environment"]["TGPIPE_LOG_FORMAT"] == "${TGPIPE_LOG_FORMAT:-json}"


async def test_the_ready_check_command_follows_the_readiness_endpoint(services: dict):
    """The compose healthcheck's own command, pointed at a health server: exit 0 on 200, non-zero on 503."""
    import asyncio
    import socket

    from tgpipe.runtime.health import HealthServer
    from tgpipe.readiness import Readiness

    class Broker:
        subscribers: list = []

        async def ping(self, timeout):
            return True

    async def database():
        return 1

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    readiness = Readiness()
    server = HealthServer(port, broker=Broker(), readiness=readiness, database=database, registries=(),
                          stuck_after_s=60, host="127.0.0.1")
    command = [sys.executable, *_ready_check(services, "writer")[1:]]
    command = [word.replace("127.0.0.1:9100", f"127.0.0.1:{port}") for word in command]

    async def check() -> int:
        process = await asyncio.create_subprocess_exec(*command, stdout=subprocess.DEVNULL,
                                                       stderr=subprocess.DEVNULL)
        return await process.wait()

    await server.start()
    try:
        readiness.set("waiting", "Kafka at kafka:9092: no answer")
        assert await check() != 0
        readiness.set("ready")
        assert await check() == 0
    finally:
        await server.stop()


def test_static_membership_only_when_an_instance_id_is_set(services: dict):
    from tgpipe.kafka.broker import consumer_options

    base = Settings(kafka_bootstrap_servers="kafka:9092")
    assert "group_instance_id" not in consumer_options(base)
    assert consumer_options(base.model_copy(update={"kafka_group_instance_id": "writer-1"}))[
        "group_instance_id"] == "writer-1"
    # --scale gives every replica the same environment: one shared id would fence the replicas.
    for name in CONSUMERS:
        assert "TGPIPE_KAFKA_GROUP_INSTANCE_ID" not in services[name]["environment"]


def test_telegram_collector_runs_under_its_profile_with_a_session_from_the_environment(services: dict):
    collector = services["collector-telegram"]
    assert collector["profiles"] == ["telegram"]
    assert collector["command"] == ["collector", "telegram"]
    env = collector["environment"]
    assert env["TGPIPE_TELEGRAM_SESSION"] == "${TGPIPE_TELEGRAM_COLLECTOR_SESSION:-}"  # never a literal
    assert set(collector["depends_on"]) == HEALTH_CHECKED | ONE_SHOT  # it reads the database cursor
    assert collector["restart"] == "unless-stopped"


def test_the_media_service_reads_exports_only_under_the_exports_mount(services: dict, monkeypatch):
    media = services["media"]
    mount = "${TGPIPE_EXPORTS_DIR:-./exports}:/exports:ro"
    assert mount in media["volumes"]
    roots = media["environment"]["TGPIPE_MEDIA_EXPORT_ROOTS"]
    assert json.loads(roots) == [mount.split(":")[-2]]  # the mount point, nothing wider
    monkeypatch.setenv("TGPIPE_MEDIA_EXPORT_ROOTS", roots)
    assert Settings().media_export_roots == (Path("/exports"),)
