"""A throwaway PostgreSQL server on loopback for integration tests.

Uses the server binaries of the machine (Debian's ``postgresql`` package puts them under
``/usr/lib/postgresql/<major>/bin``; ``PG_BIN`` overrides). PostgreSQL refuses to run as root,
so under root the cluster belongs to the ``postgres`` user and every server command runs through
``runuser``. Trust authentication on 127.0.0.1 only, a free port, fsync off: fast and private.

``pg_ctl`` starts the server (it detaches it and waits for it, as PostgreSQL documents), so
:func:`loopback.running_server` does not fit; the free port, the readiness poll and the failure
message with the tail of the server's log come from ``loopback.py`` all the same.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:  # loaded by path: find loopback.py beside this file
    sys.path.append(HERE)

from loopback import ServerDidNotStart, free_port, log_tail, wait_until_ready  # noqa: E402


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


def _run(
    cmd: list[str], run_as: str | None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run a server command (as ``run_as`` through ``runuser`` when given), output captured."""
    if run_as:
        cmd = ["runuser", "-u", run_as, "--", *cmd]
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


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
        started = _run(
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
            check=False,
        )
        if started.returncode != 0:
            raise ServerDidNotStart(
                f"PostgreSQL did not start: {started.stderr.strip()}:\n"
                f"{log_tail(root / 'server.log')}"
            )
        wait_until_ready(
            lambda: _answers(server),
            what="PostgreSQL",
            timeout_s=timeout_s,
            log_path=root / "server.log",
        )
        yield server
    finally:
        if (data_dir / "postmaster.pid").exists():
            _run(
                [str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "stop"],
                run_as,
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)


def _answers(server: PostgresServer) -> bool:
    """True once ``SELECT 1`` runs on the server's ``postgres`` database."""
    import psycopg

    try:
        with psycopg.connect(server.url(), connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.OperationalError:
        return False
