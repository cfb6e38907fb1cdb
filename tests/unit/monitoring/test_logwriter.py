"""The prediction log's writer process: same rows and counts as the in-process writer."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import pytest

from studentops.errors import ConfigError
from studentops.monitoring.logwriter import ProcessPredictionLog
from studentops.monitoring.predlog import read_predictions
from studentops.monitoring.pseudonym import Pseudonymiser

from .test_predlog import row


def test_rows_reach_the_database_keyed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    with ProcessPredictionLog(url, "secret", flush_interval_s=60) as log:
        assert log.submit([row("student-secret-123"), row(None)]) == 2
        assert log.submit([row(i) for i in range(500)]) == 500
        assert log.flush(30)
        assert log.written == 502 and log.pending == 0
    frame = read_predictions(url)
    assert len(frame) == 502
    assert frame.loc[0, "student_key"] == Pseudonymiser("secret")("student-secret-123")
    assert frame["student_key"].isna().iloc[1]
    assert frame.loc[0, "features"] == {"Age": 19.0, "Course": 9003}
    assert frame.loc[0, "output"]["probabilities"]["Dropout"] == 0.7
    for path in tmp_path.iterdir():
        assert b"student-secret-123" not in path.read_bytes()


def test_close_writes_what_is_buffered(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    log = ProcessPredictionLog(url, "k", flush_interval_s=60).start()
    log.submit([row(i) for i in range(300)])
    log.close()
    assert log.written == 300
    assert len(read_predictions(url)) == 300
    assert log._child.returncode == 0


def test_a_database_that_cannot_open_fails_at_start(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match="prediction log"):
        ProcessPredictionLog(f"sqlite:///{blocker / 'p.db'}", "k").start()


def test_write_errors_in_the_child_are_counted(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    drops: list[tuple[str, int]] = []
    log = ProcessPredictionLog(
        f"sqlite:///{db}", "k", on_drop=lambda r, n: drops.append((r, n))
    ).start()
    with sqlite3.connect(db) as conn:  # the table vanishes under the writer
        conn.execute("DROP TABLE predictions")
    log.submit([row(1), row(2), row(3)])
    assert log.flush(30)
    log.close()
    assert log.dropped["write_error"] == 3 and log.written == 0
    assert drops == [("write_error", 3)]


def test_a_dead_writer_costs_rows_not_requests(tmp_path: Path) -> None:
    log = ProcessPredictionLog(f"sqlite:///{tmp_path / 'p.db'}", "k").start()
    log._child.kill()
    log._child.wait(10)
    started = time.perf_counter()
    assert log.submit([row(i) for i in range(10)]) == 10
    assert time.perf_counter() - started < 0.05
    log.flush(10)
    log.close()
    assert log.dropped["write_error"] == 10 and log.written == 0


def test_a_stop_signal_to_the_server_does_not_lose_rows(tmp_path: Path) -> None:
    """Ctrl-C or SIGTERM reaches the whole process group; the writer waits for its parent."""
    url = f"sqlite:///{tmp_path / 'p.db'}"
    log = ProcessPredictionLog(url, "k", flush_interval_s=60).start()
    log.submit([row(i) for i in range(100)])
    log._child.send_signal(signal.SIGTERM)
    log._child.send_signal(signal.SIGINT)
    time.sleep(0.3)
    assert log._child.poll() is None
    log.close()
    assert log.written == 100 and len(read_predictions(url)) == 100
