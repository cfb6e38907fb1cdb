"""Fairness report: per-group metrics, gaps, small groups, the gate number."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from studentops.datasets.profile import Profile
from studentops.training.fairness import GATE_METRIC, fairness_report
from studentops.training.model import StudentModel

from .synthetic import make_profile, quick_model


class StubModel(StudentModel):
    """Predicts the grade stored in the frame's ``pred`` column."""

    def __init__(self, profile: Profile) -> None:
        super().__init__(profile, None, [], [], metric="f1_macro", cv_score=0.0)  # type: ignore[arg-type]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return frame["pred"].to_numpy(dtype=object)


def _frame() -> pd.DataFrame:
    # women: 10 F students, 8 flagged; men: 10 F students, 4 flagged; every other row correct
    rows = []
    for gender, found in (("f", 8), ("m", 4)):
        rows += [{"gender": gender, "grade": "F", "pred": "F"}] * found
        rows += [{"gender": gender, "grade": "F", "pred": "C"}] * (10 - found)
        rows += [{"gender": gender, "grade": "B", "pred": "B"}] * 20
    rows += [{"gender": None, "grade": "F", "pred": "A"}] * 3  # too small a group to count
    return pd.DataFrame(rows)


def test_recall_gap_is_the_gate() -> None:
    report = fairness_report(StubModel(make_profile("multiclass")), _frame(), min_group_size=20)
    groups = report["attributes"]["gender"]["groups"]
    assert set(groups) == {"female", "male", "missing"}  # display labels from the profile
    assert groups["female"][GATE_METRIC] == pytest.approx(0.8)
    assert groups["male"][GATE_METRIC] == pytest.approx(0.4)
    assert groups["female"]["selection_rate"] == pytest.approx(8 / 30)
    assert groups["female"]["count"] == 30
    gaps = report["attributes"]["gender"]["gaps"]
    assert gaps[GATE_METRIC] == pytest.approx(0.4)  # the 3-row group is left out
    assert gaps["accuracy"] == pytest.approx((28 - 24) / 30)
    assert report["attributes"]["gender"]["small_groups"] == ["missing"]
    assert report["max_gap"] == pytest.approx(0.4)
    assert report["gate_metric"] == GATE_METRIC


def test_no_gap_when_groups_are_too_small() -> None:
    report = fairness_report(StubModel(make_profile("multiclass")), _frame(), min_group_size=100)
    assert report["attributes"]["gender"]["gaps"][GATE_METRIC] is None
    assert report["max_gap"] == 0.0


def test_missing_sensitive_column_is_reported() -> None:
    report = fairness_report(StubModel(make_profile("multiclass")), _frame().drop(columns="gender"))
    assert "error" in report["attributes"]["gender"]
    assert report["max_gap"] == 0.0


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_real_models(task: str) -> None:
    from .synthetic import make_frame

    profile = make_profile(task)
    model = quick_model(
        profile,
        make_frame(profile, n=300),
        ("ridge",) if task == "regression" else ("logistic_regression",),
    )
    report = fairness_report(model, make_frame(profile, n=200, seed=9))
    metrics = report["attributes"]["gender"]["gaps"]
    assert {"selection_rate", GATE_METRIC} <= metrics.keys()
    assert ("mae" if task == "regression" else "f1") in metrics
    assert 0.0 <= report["max_gap"] <= 1.0
