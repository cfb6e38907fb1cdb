"""A throwaway redis-server on loopback: no persistence, a free port, stopped on exit.

Shared by the streaming integration tests and ``benchmarks/bench_stream.py`` (both load this
file by path). Needs Debian's ``redis-server`` binary (``.ci/run`` installs it).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:  # loaded by path from benchmarks/: find loopback.py beside this file
    sys.path.append(HERE)

from loopback import free_port, running_server  # noqa: E402

__all__ = ["binary", "free_port", "redis_server"]


def binary() -> str | None:
    """The ``redis-server`` executable, or None when it is not installed."""
    return shutil.which("redis-server")


@contextmanager
def redis_server(folder: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``(redis://127.0.0.1:<port>, process)`` of a server keeping its files in ``folder``.

    Raises:
        RuntimeError: ``redis-server`` is not installed, or did not answer PING within 10 s
            (``loopback.ServerDidNotStart``, with the tail of ``folder/redis-server.log``).
    """
    path = binary()
    if path is None:
        raise RuntimeError("redis-server not found: apt-get install redis-server")
    port = free_port()
    argv = [
        path,
        *("--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder)),
        *("--save", "", "--appendonly", "no", "--loglevel", "warning"),
    ]
    client = redis.Redis(port=port)

    def answers_ping() -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    try:
        with running_server(argv, folder=folder, ready=answers_ping, timeout_s=10) as server:
            yield f"redis://127.0.0.1:{port}", server.proc
    finally:
        client.close()
