"""`studentops monitor` and `studentops outcomes` as a user meets them: one line on error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

from studentops.config import load_settings
from studentops.monitoring.outcomes import record_outcomes
from studentops.monitoring.pseudonym import Pseudonymiser
from studentops.monitoring.store import MonitorStore


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "studentops", *args], capture_output=True, text=True, timeout=120
    )


def test_monitor_without_a_champion_is_one_line(home: Path) -> None:
    res = run("monitor", "--profile", "uci-dropout-binary")
    assert res.returncode == 2
    assert res.stderr.strip().startswith("error: no champion") and "Traceback" not in res.stderr
    res = run("monitor", "--profile", "uci-dropout-binary", "--since", "last tuesday")
    assert res.returncode == 2 and "--since 'last tuesday'" in res.stderr


def test_outcomes_without_ids_is_one_line(home: Path, tmp_path: Path) -> None:
    data = tmp_path / "o.csv"
    pd.DataFrame({"Target": ["Dropout"]}).to_csv(data, index=False)
    res = run("outcomes", "--profile", "uci-dropout-binary", "--data", str(data))
    assert res.returncode == 2 and "no id column" in res.stderr and "Traceback" not in res.stderr


def test_outcomes_are_stored_pseudonymised_with_groups(home: Path, tmp_path: Path) -> None:
    data = tmp_path / "o.csv"
    pd.DataFrame(
        {
            "student_id": ["stu-raw-1", "stu-raw-2", None],
            "Target": ["Dropout", "Graduate", "Enrolled"],
            "Gender": [1, 0, 1],
            "Course": [9254, 9500, 9254],  # a feature: not stored with outcomes
        }
    ).to_csv(data, index=False)
    settings = load_settings()
    summary = record_outcomes("uci-dropout-binary", data, settings=settings)
    assert summary.stored == 2 and summary.skipped == {"no id": 1}
    with MonitorStore(settings.prediction_log) as store:
        frame = store.read_outcomes("uci-dropout-binary").set_index("student_key")
    key = Pseudonymiser(settings.pseudonym_key)("stu-raw-1")
    assert frame.loc[key, "outcome"] == "Dropout"
    assert frame.loc[key, "groups"] == {"Gender": "1"}
    for file in settings.home.glob("predictions.db*"):  # the database and its WAL
        assert b"stu-raw" not in file.read_bytes()
