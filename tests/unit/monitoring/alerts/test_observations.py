"""Observations from a monitoring check result (issue 12's dataclasses)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from studentops.monitoring.alerts.observations import observations_from_check
from studentops.monitoring.results import CheckResult, DatasetVerdict, FeatureDrift, MetricValue

T = datetime(2026, 3, 1, tzinfo=UTC)


def _result(status: str = "drift") -> CheckResult:
    features = [
        FeatureDrift("Absences", "numeric", "psi", 0.5, 0.2, True, 500, 0.30, 0.05, True),
        FeatureDrift("Course", "categorical", "jensen_shannon", 0.01, 0.1, False, 500,
                     unseen_share=0.04, unseen_drifted=True),
    ]  # fmt: skip
    metrics = [
        MetricValue("recall", 0.55, 300, "3"),
        MetricValue("brier", 0.30, 300, "3"),
        MetricValue("recall", 0.9, 300, "2"),  # an older version: ignored
        MetricValue("recall", 0.80, 120, "3", "Gender", "0"),
        MetricValue("recall", 0.50, 100, "3", "Gender", "1"),
        MetricValue("recall", 0.00, 5, "3", "Gender", "2"),  # too small a group
    ]
    return CheckResult(
        profile="p", model_name="studentops-p", model_version="3", kind="full",
        started_at=T, window_start=T,
        verdict=DatasetVerdict(status, 500, 100, 2, ["Absences", "Course"], 1.0),  # type: ignore[arg-type]
        features=features, metrics=metrics, report_html="/tmp/r/report.html",
    )  # fmt: skip


def test_every_kind_from_a_check() -> None:
    obs = observations_from_check(_result(), {"recall": 0.70, "brier": 0.20})
    got = {(o.kind, o.subject): round(o.value, 6) for o in obs}
    assert got[("dataset_drift_share", "")] == 1.0
    assert got[("feature_drift", "Absences")] == 2.5  # psi 0.5 / threshold 0.2
    assert got[("feature_drift", "Course")] == 0.1
    assert got[("missing_surge", "Absences")] == 0.25
    assert got[("unseen_categories", "Course")] == 0.04
    assert ("unseen_categories", "Absences") not in got  # numbers have no categories
    assert got[("performance_below", "recall")] == 0.55
    assert got[("performance_drop", "recall")] == pytest.approx(0.15)
    assert got[("performance_drop", "brier")] == pytest.approx(0.10)  # lower is better
    assert got[("fairness_gap", "")] == pytest.approx(0.30)
    assert all(o.report_url == "file:///tmp/r/report.html" for o in obs)
    assert all(o.since == T for o in obs)


def test_too_few_rows_gives_no_drift_observations() -> None:
    kinds = {o.kind for o in observations_from_check(_result("too_few_rows"))}
    assert "dataset_drift_share" not in kinds and "feature_drift" not in kinds
    assert "performance_below" in kinds
