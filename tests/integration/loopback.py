"""Start a server process on loopback for a test and wait until it answers.

One way for every integration fixture that runs a real server (MLflow, Streamlit, Prometheus,
moto, redis-server, ``studentops serve``, the image's roles): a free port chosen at run time,
the process's output in its own log file, a readiness probe polled until it answers or a
deadline passes, a failure message that ends with the tail of that log, and a clean stop
(SIGTERM to the process group, SIGKILL after a grace period) at teardown.

Standard library only, so ``benchmarks/bench_stream.py`` can use it through ``redis_local.py``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

Probe = Callable[[], bool]

LOG_TAIL_CHARS = 4000  # enough for a Python traceback, short enough to read in a test report


class ServerDidNotStart(RuntimeError):
    """The server exited, or its probe did not answer before the deadline."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (bind port 0, read it, close).

    Another process may take it before the server binds it; on a test machine that race is
    rare enough to accept (the server then fails to start and says so in its log).
    """
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def http_ok(url: str, timeout_s: float = 2.0) -> Probe:
    """A probe that is true once ``GET url`` answers with a 2xx status."""

    def probe() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as answer:
                return 200 <= int(answer.status) < 300
        except (OSError, urllib.error.URLError):  # refused, reset, timed out, 4xx/5xx
            return False

    return probe


def tcp_open(port: int, host: str = "127.0.0.1", timeout_s: float = 1.0) -> Probe:
    """A probe that is true once a TCP connection to ``host:port`` is accepted."""

    def probe() -> bool:
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                return True
        except OSError:
            return False

    return probe


def log_tail(path: Path | None, chars: int = LOG_TAIL_CHARS) -> str:
    """The last ``chars`` characters of a log file ('' when there is none)."""
    if path is None or not path.is_file():
        return ""
    return path.read_text(errors="replace")[-chars:]


def wait_until_ready(
    ready: Probe,
    *,
    what: str,
    timeout_s: float,
    proc: subprocess.Popen[bytes] | None = None,
    log_path: Path | None = None,
    interval_s: float = 0.25,
) -> None:
    """Poll ``ready`` every ``interval_s`` seconds until it is true.

    Raises:
        ServerDidNotStart: ``proc`` exited first, or ``timeout_s`` seconds passed; the message
            names ``what`` and ends with the tail of ``log_path``.
    """
    deadline = time.monotonic() + timeout_s
    while not ready():
        if proc is not None and proc.poll() is not None:
            reason = f"exited with code {proc.returncode} before it answered"
        elif time.monotonic() > deadline:
            reason = f"did not answer within {timeout_s:.0f} s"
        else:
            time.sleep(interval_s)
            continue
        tail = log_tail(log_path)
        where = f" (log: {log_path})" if log_path else ""
        raise ServerDidNotStart(f"{what} {reason}{where}" + (f":\n{tail}" if tail else ""))


@dataclass
class Server:
    """A started server process and the file that holds its stdout and stderr."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        """The last ``chars`` characters of the server's log."""
        return log_tail(self.log_path, chars)


@contextmanager
def running_server(
    argv: Sequence[str],
    *,
    folder: Path,
    ready: str | Probe | None,
    name: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 180.0,
    stop_timeout_s: float = 20.0,
) -> Iterator[Server]:
    """Run ``argv`` in ``folder`` (created), wait until ``ready`` answers, yield, then stop it.

    Args:
        argv: the command line; it should bind loopback on a port from :func:`free_port`.
        folder: working directory; the output goes to ``folder/<name>.log``.
        ready: a URL (ready once it answers 2xx), a probe such as :func:`tcp_open`, or None
            for a process that serves nothing (a worker): yielded as soon as it is started.
        name: what the failure message and the log file are called (default: ``argv[0]``'s
            file name).
        env: the environment of the process (default: this process's).
        timeout_s: seconds to wait for ``ready``.
        stop_timeout_s: seconds between SIGTERM and SIGKILL at teardown.

    The process leads its own process group, so a server that forks workers (``--workers 2``,
    gunicorn, uvicorn) is stopped whole.

    Raises:
        ServerDidNotStart: the process exited or did not answer in time (tail of its log).
    """
    label = name or Path(argv[0]).name
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / f"{label}.log"
    probe = http_ok(ready) if isinstance(ready, str) else ready
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            list(argv),
            env=dict(env) if env is not None else None,
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        server = Server(label, proc, log_path)
        try:
            if probe is not None:
                wait_until_ready(
                    probe, what=label, timeout_s=timeout_s, proc=proc, log_path=log_path
                )
            yield server
        finally:
            _stop(proc, stop_timeout_s)


def _stop(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM to the process group, SIGKILL if it is still there after ``grace_s`` seconds."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):  # the whole group is gone already
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def moto_in_thread(credentials: Mapping[str, str] | None = None) -> Iterator[str]:
    """moto's server mode in a thread of this process on a free loopback port; yields its URL.

    moto's ``ThreadedMotoServer`` serves every AWS API it mocks (S3, SES v2, Kinesis) over real
    HTTP. ``credentials`` (default: moto's documented ``testing`` pair) are set in
    ``os.environ`` while it runs, so boto3 clients in this process sign their requests, and
    restored afterwards. Imports moto lazily: only tests that need it pay for it.
    """
    import logging

    from moto.server import ThreadedMotoServer

    keys = dict(credentials or {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    saved = {key: os.environ.get(key) for key in keys}
    os.environ.update(keys)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
