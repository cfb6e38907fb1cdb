"""New labelled rows from the monitoring store: logged predictions joined with outcomes."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from studentops.config import load_settings
from studentops.errors import DataError
from studentops.monitoring.predlog import LogRow, PredictionLog
from studentops.monitoring.pseudonym import Pseudonymiser
from studentops.monitoring.retraining.sources import new_labelled_rows
from studentops.monitoring.store import MonitorStore, Outcome

PROFILE = "uci-dropout-binary"


def test_latest_prediction_per_student_joined_with_its_outcome(tmp_path: Path) -> None:
    settings = load_settings(config_file=tmp_path / "n.yaml", home=tmp_path)
    with pytest.raises(DataError, match="no outcomes recorded"):
        new_labelled_rows(settings, PROFILE)
    now = time.time()
    rows = [
        LogRow(now - 30, "s1", {"Age at enrollment": 19, "Gender": 1}, "Dropout", 0.8, "high",
               {}, "m", "1", 1.0, PROFILE),
        LogRow(now - 20, "s1", {"Age at enrollment": 20, "Gender": 1}, "Dropout", 0.7, "high",
               {}, "m", "1", 1.0, PROFILE),
        LogRow(now - 10, "s2", {"Age at enrollment": 30, "Gender": 0}, "Graduate", 0.1, "low",
               {}, "m", "1", 1.0, PROFILE),
        LogRow(now - 10, "s3", {"Age at enrollment": 40, "Gender": 0}, "Graduate", 0.1, "low",
               {}, "m", "1", 1.0, PROFILE),
    ]  # fmt: skip
    settings.ensure_home()
    with PredictionLog(settings.prediction_log, settings.pseudonym_key) as log:
        log.submit(rows)
        assert log.flush()
    key = Pseudonymiser(settings.pseudonym_key)
    seen = datetime.now(UTC)
    with MonitorStore(settings.prediction_log) as store:
        store.write_outcomes(
            PROFILE,
            [
                Outcome(key("s2"), "Graduate", seen - timedelta(days=1), {"Nacionality": "1"}),
                Outcome(key("s1"), "Dropout", seen),
            ],
        )
    got = new_labelled_rows(settings, PROFILE)
    assert list(got["Target"]) == ["Graduate", "Dropout"]  # oldest outcome first
    assert list(got["Age at enrollment"]) == [30, 20]  # s1's latest prediction
    assert got["Nacionality"].iloc[0] == "1"  # sensitive values come with the outcome
    assert "student_key" not in got.columns and "s1" not in got.to_string()


def test_stored_classes_go_back_to_raw_target_values() -> None:
    from studentops.datasets.profile import load_profile
    from studentops.datasets.validation import validate
    from studentops.monitoring.retraining.sources import raw_targets

    binary = load_profile(PROFILE)  # Enrolled and Graduate both map to "Not dropout"
    assert raw_targets(binary, ["Dropout", "Not dropout"]) == ["Dropout", "Enrolled"]
    assert raw_targets(load_profile("student-performance"), ["4", "0"]) == ["4", "0"]
    from studentops.datasets.synthetic import generate_cohort

    frame = generate_cohort(binary, 50, seed=1)
    frame["Target"] = raw_targets(binary, [str(v) for v in binary.target_values(frame)])
    assert validate(frame, binary).rejected == 0
