"""The log's columnar read layout: migration of an existing log, incremental sync, typing."""

from __future__ import annotations

import datetime as dt
import time

from studentops.datasets.profile import load_profile
from studentops.monitoring import columnar
from studentops.monitoring.predlog import LogRow, PredictionLog

PROFILE = "uci-dropout-binary"


def rows(n: int, start: int, ts: float) -> list[LogRow]:
    return [
        LogRow(
            ts,
            f"s{i}",
            {"Age at enrollment": 18 + i % 9, "Course": 9254 if i % 2 else "9500.0"},
            "1",
            0.4,
            "medium",
            {"probabilities": {"0": 0.6, "1": 0.4}},
            "m",
            "3",
            1.0,
            PROFILE,
            "batch",
        )
        for i in range(start, start + n)
    ]


def test_existing_log_is_migrated_then_synced_incrementally(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    folder = tmp_path / "col"
    old = time.time() - 86_400 * 10
    with PredictionLog(url, key="k") as log:  # a log written before the layout existed
        log.submit(rows(3_000, 0, old))
        assert log.flush(30)
    profiles = {PROFILE: load_profile(PROFILE)}
    assert columnar.sync(url, folder, profiles) == 3_000
    assert columnar.sync(url, folder, profiles) == 0
    with PredictionLog(url, key="k") as log:
        log.submit(rows(500, 3_000, time.time()))
        assert log.flush(30)
    assert columnar.sync(url, folder, profiles, chunk_rows=200) == 500
    frame = columnar.read_window(folder, PROFILE)
    assert len(frame) == 3_500 and frame["id"].is_monotonic_increasing
    assert str(frame["Age at enrollment"].dtype) == "float64"
    # Codes sent as 9254 and "9500.0" are one category each, as the reference keys them.
    assert set(frame["Course"]) == {"9254", "9500"}
    assert "s1" not in set(frame["student_key"])  # pseudonymised by the log, never raw
    recent = columnar.read_window(
        folder, PROFILE, since=dt.datetime.now(dt.UTC) - dt.timedelta(days=1), columns=["ts"]
    )
    assert len(recent) == 500 and list(recent.columns) == ["ts"]


def test_a_recreated_log_is_synced_again(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    folder = tmp_path / "col"
    with PredictionLog(url, key="k") as log:
        log.submit(rows(100, 0, time.time()))
        assert log.flush(30)
    columnar.sync(url, folder)
    (tmp_path / "p.db").unlink()
    with PredictionLog(url, key="k") as log:
        log.submit(rows(10, 0, time.time()))
        assert log.flush(30)
    assert columnar.sync(url, folder) == 10
    assert len(columnar.read_window(folder, PROFILE)) == 10


def test_mixed_profiles_odd_values_and_the_driver_route_agree(tmp_path, monkeypatch) -> None:
    """Two profiles in one chunk, a number sent as text, no features at all: typed alike by
    the Arrow (ADBC) route and the plain DBAPI route."""
    import sys

    url = f"sqlite:///{tmp_path / 'p.db'}"
    now = time.time()
    odd = [
        LogRow(
            now,
            "a",
            {"Age at enrollment": " 19 ", "Course": 1.0},
            "1",
            0.1,
            "low",
            "{}",
            "m",
            "3",
            1.0,
            PROFILE,
            "api",
        ),
        LogRow(now, "b", None, "0", None, "low", "{}", "m", "3", 1.0, PROFILE, "api"),  # type: ignore[arg-type]
        LogRow(
            now,
            "c",
            {"lunch": "standard", "reading_score": 71},
            "64.5",
            0.2,
            "low",
            "{}",
            "m",
            "1",
            1.0,
            "exams-math",
            "api",
        ),
    ]
    with PredictionLog(url, key="k") as log:
        log.submit([*rows(5, 0, now), *odd])
        assert log.flush(30)
    frames = {}
    for route in ("adbc", "dbapi"):
        if route == "dbapi":
            monkeypatch.setitem(sys.modules, "adbc_driver_sqlite", None)  # not installed
        folder = tmp_path / route
        assert columnar.sync(url, folder, chunk_rows=3) == 8
        frames[route] = columnar.read_window(folder, PROFILE)
        exams = columnar.read_window(folder, "exams-math")
        assert exams["reading_score"].tolist() == [71.0] and exams["lunch"].tolist() == ["standard"]
        assert exams["prediction"].tolist() == ["64.5"]
    a, d = frames["adbc"], frames["dbapi"]
    assert len(a) == 7 and a.drop(columns=["ts"]).equals(d.drop(columns=["ts"]))
    assert a["Age at enrollment"].iloc[5] == 19.0 and a["Course"].iloc[5] == "1"
    assert a["Age at enrollment"].isna().iloc[6] and a["risk_score"].isna().iloc[6]
