"""A throwaway PostgreSQL server on loopback for integration tests.

Uses the server binaries of the machine (Debian's ``postgresql`` package puts them under
``/usr/lib/postgresql/<major>/bin``; ``PG_BIN`` overrides). PostgreSQL refuses to run as root,
so under root the cluster belongs to the ``postgres`` user and every server command runs through
``runuser``. Trust authentication on 127.0.0.1 only, a free port, fsync off: fast and private.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """No server binaries here (tests skip)."""


def find_bin_dir() -> Path:
    """The folder holding initdb and pg_ctl."""
    if env := os.environ.get("PG_BIN"):
        return Path(env)
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for folder in candidates:
        if (folder / "initdb").exists():
            return folder
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise PostgresUnavailable("PostgreSQL server binaries not found (install 'postgresql')")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    """A running server; ``url(db)`` gives a SQLAlchemy/psycopg URL for a database."""

    bin_dir: Path
    data_dir: Path
    port: int
    user: str = "postgres"
    run_as: str | None = None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _run(cmd: list[str], run_as: str | None, **kw: object) -> subprocess.CompletedProcess[str]:
    if run_as:
        cmd = ["runuser", "-u", run_as, "--", *cmd]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)  # type: ignore[call-overload]


@contextmanager
def postgres_server(timeout_s: float = 30.0) -> Iterator[PostgresServer]:
    """Start a fresh cluster, yield it, then stop it and delete its files."""
    bin_dir = find_bin_dir()
    run_as = "postgres" if os.geteuid() == 0 else None
    # Not under pytest's tmp_path: its parents are private to root, and postgres must enter.
    root = Path(tempfile.mkdtemp(prefix="studentops-pg-"))
    data_dir, socket_dir = root / "data", root / "socket"
    socket_dir.mkdir()
    if run_as:
        shutil.chown(root, user=run_as)
        shutil.chown(socket_dir, user=run_as)
    server = PostgresServer(bin_dir=bin_dir, data_dir=data_dir, port=free_port(), run_as=run_as)
    try:
        _run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                server.user,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ],
            run_as,
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={server.port} "
            f"-c unix_socket_directories={socket_dir} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
        )
        _run(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data_dir),
                "-l",
                str(root / "server.log"),
                "-o",
                options,
                "-w",
                "-t",
                str(int(timeout_s)),
                "start",
            ],
            run_as,
        )
        _wait_ready(server, timeout_s)
        yield server
    finally:
        if (data_dir / "postmaster.pid").exists():
            subprocess.run(
                [
                    *(["runuser", "-u", run_as, "--"] if run_as else []),
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(data_dir),
                    "-m",
                    "fast",
                    "-w",
                    "stop",
                ],
                capture_output=True,
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)


def _wait_ready(server: PostgresServer, timeout_s: float) -> None:
    import psycopg

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with psycopg.connect(server.url(), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
