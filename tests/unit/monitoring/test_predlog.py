"""The prediction log: rows land pseudonymised, a full queue drops and counts, never blocks."""

from __future__ import annotations

import time
from pathlib import Path

from studentops.monitoring.predlog import LogRow, PredictionLog, read_predictions
from studentops.monitoring.pseudonym import Pseudonymiser


def row(student_id: object, risk: float = 0.7) -> LogRow:
    return LogRow(
        ts=time.time(),
        student_id=student_id,
        features={"Age": 19.0, "Course": 9003},
        prediction="Dropout",
        risk_score=risk,
        risk_band="high",
        output={"probabilities": {"Dropout": risk, "Not dropout": 1 - risk}},
        model_name="studentops-x",
        model_version="3",
        latency_ms=1.5,
        profile="x",
    )


def test_rows_are_written_with_keyed_ids_only(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    with PredictionLog(url, "secret") as log:
        assert log.submit([row("student-secret-123"), row(None)]) == 2
        assert log.flush(10)
    frame = read_predictions(url)
    assert len(frame) == 2
    assert frame.loc[0, "student_key"] == Pseudonymiser("secret")("student-secret-123")
    assert frame["student_key"].isna().iloc[1]
    assert frame.loc[0, "model_version"] == "3"
    assert frame.loc[0, "features"] == {"Age": 19.0, "Course": 9003}
    assert frame.loc[0, "output"]["probabilities"]["Dropout"] == 0.7
    assert frame.loc[0, "ts"].year >= 2025
    for path in tmp_path.iterdir():  # the database, its WAL and shared memory
        assert b"student-secret-123" not in path.read_bytes()


def test_full_queue_drops_and_counts_without_blocking(tmp_path: Path) -> None:
    drops: list[tuple[str, int]] = []
    log = PredictionLog(
        f"sqlite:///{tmp_path / 'p.db'}",
        "k",
        queue_size=5,
        on_drop=lambda r, n: drops.append((r, n)),
    )
    # Not started: nothing drains, so the queue fills.
    started = time.perf_counter()
    kept = log.submit([row(i) for i in range(8)])
    assert time.perf_counter() - started < 0.05
    assert kept == 5 and log.pending == 5
    assert log.dropped["queue_full"] == 3 and drops == [("queue_full", 3)]
    log.start()
    assert log.flush(10)
    log.close()
    assert log.written == 5


def test_write_errors_are_counted_not_raised(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    log = PredictionLog(url, "k").start()
    log._insert_sql = "INSERT INTO no_such_table VALUES (1)"
    log.submit([row(1), row(2)])
    assert log.flush(10)
    log.close()
    assert log.dropped["write_error"] == 2 and log.written == 0


def test_close_writes_what_is_buffered(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    log = PredictionLog(url, "k", flush_interval_s=60).start()
    log.submit([row(i) for i in range(100)])
    log.close()
    assert len(read_predictions(url)) == 100
