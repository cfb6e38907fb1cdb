"""Monitoring on a real PostgreSQL server: predictions logged through the API, outcomes
recorded, a check run, and the monitoring tables read back (and shown on ``/metrics``).

Lives beside the serving tests to share their trained registry (one training per session).
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from studentops.monitoring.check import run_check
from studentops.monitoring.outcomes import record_outcomes
from studentops.monitoring.store import MonitorStore

pytestmark = [pytest.mark.integration]


def test_log_outcomes_check_and_read_back(
    registry: Any, postgres_url: str, as_records: Any, tmp_path: Any
) -> None:
    from sqlalchemy import create_engine, text

    from studentops.databases import with_installed_driver
    from studentops.datasets.profile import load_profile
    from studentops.datasets.synthetic import generate_cohort
    from studentops.serving.app import create_app

    settings = registry.settings.model_copy(
        update={"prediction_log_url": postgres_url, "monitor_min_rows": 100}
    )
    profile = load_profile(registry.profile)
    cohort = generate_cohort(profile, 400, seed=11, drifts=["Age at enrollment:+40%"])
    records = as_records(cohort)
    with TestClient(create_app(settings, poll=False)) as client:
        for start in range(0, len(records), 100):
            r = client.post("/v1/predict", json=records[start : start + 100])
            assert r.status_code == 200
        assert client.app.state.serving.log.flush(30)

    outcomes_file = tmp_path / "outcomes.csv"
    frame = cohort[["Target", "Gender"]].copy()
    frame.insert(0, "student_id", [r["student_id"] for r in records])
    frame.loc[0, "Target"] = None  # counted as skipped, never silently dropped
    frame.to_csv(outcomes_file, index=False)
    summary = record_outcomes(registry.profile, outcomes_file, settings=settings)
    assert summary.stored == 399 and summary.skipped == {"no outcome": 1}

    result = run_check(registry.profile, settings=settings)
    assert result.n_rows == 400 and result.check_id is not None
    assert "Age at enrollment" in result.verdict.drifted_features
    assert result.target is not None and result.target.n == 399
    overall = {m.metric: m for m in result.metrics if m.group_column is None}
    assert {"recall", "ece", "brier"} <= set(overall) and overall["recall"].n > 0
    assert {m.group_column for m in result.metrics} >= {None, "Gender"}

    with MonitorStore(postgres_url) as store:
        checks = store.read_checks(registry.profile)
        features = store.read_features(registry.profile, feature="Age at enrollment")
        metrics = store.read_metrics(registry.profile, metric="recall")
        latest = store.latest_check(registry.profile)
    assert checks["id"].iloc[-1] == result.check_id and checks["n_rows"].iloc[-1] == 400
    assert bool(features["drifted"].iloc[-1]) and features["statistic"].iloc[-1] == "psi"
    assert (metrics["value"] == overall["recall"].value).any()
    assert latest is not None and latest.verdict.drifted_features == result.verdict.drifted_features

    engine = create_engine(with_installed_driver(postgres_url))
    with engine.connect() as conn:
        kinds = dict(
            conn.execute(
                text(
                    "select table_name, data_type from information_schema.columns "
                    "where column_name in ('result', 'groups')"
                )
            ).all()
        )
        raw_ids = conn.execute(
            text("select count(*) from outcomes where student_key like 'stu-%'")
        ).scalar()
    engine.dispose()
    assert kinds == {"monitor_checks": "jsonb", "outcomes": "jsonb"} and raw_ids == 0

    with TestClient(create_app(settings, poll=False)) as client:
        body = client.get("/metrics").text
    assert f'studentops_drift_share{{profile="{registry.profile}"}}' in body
    assert 'studentops_feature_drifted{feature="Age at enrollment"' in body
    assert "studentops_model_performance{" in body
