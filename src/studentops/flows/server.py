"""Prefect's settings and server for studentops: everything under home, one server per home.

Why a real server: Prefect's temporary in-process server ("ephemeral mode") does not run the
scheduler, and several processes each opening it on one SQLite file is how "database is locked"
happens. So every studentops process talks to ONE ``prefect server start`` per home: the server
is the only writer of its database (SQLite in WAL mode under ``home/prefect``), and flows,
``flows run`` and ``flows serve`` are its HTTP clients. PostgreSQL by ``prefect_database_url``
or any running server by ``prefect_api_url``.

Isolation: :func:`prefect_environment` points ``PREFECT_HOME``, the API URL and the database at
home before Prefect is imported (Prefect reads its settings once, at import), so nothing is
shared with another user's Prefect on the same machine.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from studentops.config import Settings
from studentops.errors import ConfigError

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
START_TIMEOUT_S = 180.0  # a cold start migrates the database; slow on a busy 2-core machine


def prefect_home(settings: Settings) -> Path:
    """The Prefect home of this studentops home (``home/prefect``), as an absolute path."""
    return (settings.home / "prefect").resolve()


def database_url(settings: Settings) -> str:
    """The local server's database: ``prefect_database_url`` or SQLite under home/prefect."""
    url = settings.prefect_database_url
    if url:
        for prefix in ("postgresql://", "postgres://", "postgresql+psycopg://"):
            if url.startswith(prefix):
                return "postgresql+asyncpg://" + url.removeprefix(prefix)
        return url
    return f"sqlite+aiosqlite:///{prefect_home(settings) / 'prefect.db'}"


def prefect_environment(settings: Settings, api_url: str | None = None) -> dict[str, str]:
    """``PREFECT_*`` variables that keep Prefect's state and traffic under home."""
    env = {
        "PREFECT_HOME": str(prefect_home(settings)),
        "PREFECT_PROFILES_PATH": str(prefect_home(settings) / "profiles.toml"),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": database_url(settings),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "false",
    }
    url = api_url or settings.prefect_api_url
    if url:
        env["PREFECT_API_URL"] = url
    return env


def apply_environment(settings: Settings, api_url: str | None = None) -> dict[str, str]:
    """Set :func:`prefect_environment` in this process's environment (and so its children's).

    Prefect reads its settings when first imported: call this before importing it. A process
    that already imported Prefect (tests) wraps its calls in ``temporary_settings`` instead.
    """
    env = prefect_environment(settings, api_url)
    prefect_home(settings).mkdir(parents=True, exist_ok=True)
    os.environ.update(env)
    return env


@dataclass
class LocalServer:
    """A Prefect server this home uses: its API URL, and the process if we started it."""

    api_url: str
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def ui_url(self) -> str:
        """The Prefect UI address (the API URL without ``/api``)."""
        return self.api_url.removesuffix("/api")

    def stop(self, timeout_s: float = 20.0) -> None:
        """Stop the server if this process started it (its whole process group)."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout_s)


def healthy(api_url: str, timeout_s: float = 2.0) -> bool:
    """Does a Prefect API answer ``/health`` at this URL?"""
    import httpx

    try:
        return httpx.get(f"{api_url}/health", timeout=timeout_s).status_code == 200
    except httpx.HTTPError:
        return False


def _state_file(settings: Settings) -> Path:
    return prefect_home(settings) / "server.json"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((HOST, port)) == 0


def running_server(settings: Settings) -> LocalServer | None:
    """The configured server, or the local one recorded under home, if it answers."""
    if settings.prefect_api_url:
        return LocalServer(settings.prefect_api_url) if healthy(settings.prefect_api_url) else None
    try:
        recorded = json.loads(_state_file(settings).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    url = str(recorded.get("api_url", ""))
    if recorded.get("database") != database_url(settings) or not url or not healthy(url):
        return None
    return LocalServer(url)


def start_server(
    settings: Settings, *, timeout_s: float = START_TIMEOUT_S, ui: bool = True
) -> LocalServer:
    """Start ``prefect server start`` on loopback with home's database and wait until healthy.

    Logs go to ``home/prefect/server.log``. The server runs in its own process group, so a
    Ctrl-C meant for the caller does not stop it halfway through a write.

    Raises:
        ConfigError: the configured port is taken, or the server did not come up in time.
    """
    port = settings.prefect_port or _free_port()
    if _port_in_use(port):
        raise ConfigError(
            f"port {port} is in use by another program: set prefect_port (0 picks a free one)"
        )
    api_url = f"http://{HOST}:{port}/api"
    env = os.environ | prefect_environment(settings, api_url)
    env["PREFECT_UI_ENABLED"] = "true" if ui else "false"
    env["PREFECT_UI_API_URL"] = api_url
    home = prefect_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    log_path = home / "server.log"
    with log_path.open("ab") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "prefect",
                "server",
                "start",
                "--host",
                HOST,
                "--port",
                str(port),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = LocalServer(api_url, process, log_path)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ConfigError(f"the Prefect server exited at start (see {log_path})")
        if healthy(api_url):
            _state_file(settings).write_text(
                json.dumps(
                    {"api_url": api_url, "pid": process.pid, "database": database_url(settings)}
                ),
                encoding="utf-8",
            )
            log.info("Prefect server up at %s", api_url)
            return server
        time.sleep(0.5)
    server.stop()
    raise ConfigError(f"the Prefect server did not answer within {timeout_s:.0f}s (see {log_path})")


@contextmanager
def prefect_server(
    settings: Settings, *, timeout_s: float = START_TIMEOUT_S, ui: bool = True
) -> Iterator[LocalServer]:
    """Use the running server of this home (or ``prefect_api_url``), else start one for the block.

    Points this process's Prefect at it (:func:`apply_environment`). A server started here is
    stopped when the block ends; one that was already running is left alone.

    Raises:
        ConfigError: ``prefect_api_url`` does not answer, or a local server cannot start.
    """
    server = running_server(settings)
    if server is None and settings.prefect_api_url:
        raise ConfigError(f"no Prefect server answers at {settings.prefect_api_url}")
    started = server is None
    if server is None:
        server = start_server(settings, timeout_s=timeout_s, ui=ui)
    try:
        apply_environment(settings, server.api_url)
        yield server
    finally:
        if started:
            _flush_prefect_clients()
            server.stop()


def _flush_prefect_clients() -> None:
    """Send buffered run logs before the server they go to stops."""
    if "prefect" not in sys.modules:
        return
    from prefect.logging.handlers import APILogWorker

    try:
        APILogWorker.drain_all(timeout=10)
    except Exception as exc:  # logs are a convenience; stopping must go on
        log.warning("could not send the last run logs: %s", exc)
