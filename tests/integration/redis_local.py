"""A throwaway redis-server on loopback: no persistence, a free port, stopped on exit.

Shared by the streaming integration tests and ``benchmarks/bench_stream.py`` (both load this
file by path). Needs Debian's ``redis-server`` binary (``.ci/run`` installs it).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def binary() -> str | None:
    return shutil.which("redis-server")


@contextmanager
def redis_server(folder: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``(redis://127.0.0.1:<port>, process)`` of a server keeping its files in ``folder``."""
    path = binary()
    if path is None:
        raise RuntimeError("redis-server not found: apt-get install redis-server")
    port = free_port()
    proc = subprocess.Popen(
        [
            path,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}", proc
    finally:
        client.close()
        proc.terminate()
        proc.wait(10)
