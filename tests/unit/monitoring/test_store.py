"""The monitoring store round-trips checks, features, metrics and outcomes (SQLite)."""

from __future__ import annotations

import datetime as dt
import math

from studentops.monitoring.results import (
    CheckResult,
    DatasetVerdict,
    FeatureDrift,
    MetricValue,
)
from studentops.monitoring.store import MonitorStore, Outcome


def _result(profile: str, status: str = "drift") -> CheckResult:
    now = dt.datetime(2026, 1, 5, 12, tzinfo=dt.UTC)
    return CheckResult(
        profile=profile,
        model_name="studentops-x",
        model_version="3",
        kind="full",
        started_at=now,
        window_start=now - dt.timedelta(days=7),
        window_end=now,
        n_rows=500,
        n_reference=4000,
        verdict=DatasetVerdict(
            status=status,  # type: ignore[arg-type]
            n_rows=500,
            min_rows=100,
            n_features=2,
            drifted_features=["Absences"],
            drifted_share=0.5,
        ),
        features=[
            FeatureDrift("Absences", "numeric", "psi", 0.4, 0.2, True, n=500),
            FeatureDrift("Gender", "categorical", "psi", float("nan"), 0.2, False, n=500),
        ],
        prediction=[FeatureDrift("risk_score", "risk_score", "psi", 0.01, 0.2, False, n=500)],
        metrics=[
            MetricValue("recall", 0.8, 120, "3"),
            MetricValue("recall", 0.7, 60, "3", group_column="Gender", group_value="1"),
        ],
    )


def test_check_round_trip(tmp_path):
    store = MonitorStore(f"sqlite:///{tmp_path / 'p.db'}")
    first = store.write_check(_result("a", "ok"))
    second = store.write_check(_result("a"))
    store.write_check(_result("b"))
    assert second > first
    checks = store.read_checks("a")
    assert list(checks["status"]) == ["ok", "drift"]
    assert checks["started_at"].dt.tz is not None
    features = store.read_features("a", feature="Absences")
    assert len(features) == 2 and features["drifted"].all()
    assert math.isnan(store.read_features("a", feature="Gender")["value"].iloc[0])
    metrics = store.read_metrics("a", metric="recall")
    assert len(metrics) == 4
    assert set(metrics["group_value"].dropna()) == {"1"}
    latest = store.latest_check("a")
    assert latest is not None and latest.check_id == second
    assert latest.drifted[0].feature == "Absences"
    assert math.isnan(latest.features[1].value)
    assert set(store.latest_checks()) == {"a", "b"}
    store.close()


def test_outcomes_latest_wins(tmp_path):
    store = MonitorStore(f"sqlite:///{tmp_path / 'p.db'}")
    t = dt.datetime(2026, 6, 30, tzinfo=dt.UTC)
    assert store.write_outcomes(
        "a", [Outcome("k1", "Dropout", t), Outcome("k2", "Graduate", t, {"Gender": "1"})]
    )
    store.write_outcomes("a", [Outcome("k1", "Graduate", t)])
    store.write_outcomes("b", [Outcome("k1", "x", t)])
    frame = store.read_outcomes("a").set_index("student_key")
    assert frame.loc["k1", "outcome"] == "Graduate" and len(frame) == 2
    assert frame.loc["k2", "groups"] == {"Gender": "1"} and frame.loc["k1", "groups"] is None
    store.close()
