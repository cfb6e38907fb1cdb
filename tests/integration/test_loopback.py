"""The server helper itself: readiness, the failure message, and a clean stop of the group."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from loopback import ServerDidNotStart, free_port, running_server, tcp_open

pytestmark = pytest.mark.integration


def test_waits_for_a_real_http_server_then_stops_it_and_its_children(tmp_path: Path) -> None:
    port = free_port()
    # A parent that forks a child, then serves HTTP: the whole group must go at teardown.
    script = (
        "import http.server, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "open('child.pid', 'w').write(str(child.pid))\n"
        "time.sleep(0.5)\n"
        "print('listening', flush=True)\n"
        f"http.server.test(http.server.SimpleHTTPRequestHandler, port={port}, bind='127.0.0.1')\n"
    )
    argv = [sys.executable, "-c", script]
    url = f"http://127.0.0.1:{port}/"
    with running_server(argv, folder=tmp_path, ready=url, name="web", timeout_s=30) as server:
        assert tcp_open(port)()
        assert "listening" in server.log_tail()
        child = int((tmp_path / "child.pid").read_text())
    assert server.proc.returncode is not None
    assert not tcp_open(port)()
    assert not _alive(child)


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for a reaper that never comes counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_a_server_that_exits_fails_with_the_tail_of_its_log(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "import sys; print('bad config: port'); sys.exit(3)"]
    ready = tcp_open(free_port())
    with (
        pytest.raises(ServerDidNotStart) as failed,
        running_server(argv, folder=tmp_path, ready=ready, name="broken"),
    ):
        pass
    message = str(failed.value)
    assert message.startswith("broken exited with code 3 before it answered")
    assert message.rstrip().endswith("bad config: port")


def test_a_server_that_never_answers_fails_at_the_deadline(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "print('still booting', flush=True); import time; time.sleep(60)"]
    ready = tcp_open(free_port())
    with (
        pytest.raises(ServerDidNotStart, match=r"slow did not answer within 1 s(.|\n)*booting"),
        running_server(argv, folder=tmp_path, ready=ready, name="slow", timeout_s=1),
    ):
        pass
