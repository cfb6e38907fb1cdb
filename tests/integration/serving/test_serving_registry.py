"""Serving a real registered champion: equal to the logged MLflow model, hot swap by alias."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from studentops.datasets.profile import load_profile
from studentops.serving.app import create_app

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROFILE = "uci-dropout-binary"
Registry = Any


def test_api_equals_the_logged_mlflow_model(registry: Registry, as_records: Any) -> None:
    """Probabilities, predictions and risk of the API match mlflow.pyfunc to 1e-6."""
    import mlflow.pyfunc

    from studentops.registry.store import champion_uri, load_student_model

    _, info = load_student_model(champion_uri(PROFILE), registry.settings)
    pyfunc = mlflow.pyfunc.load_model(info.uri)
    frame = registry.cohort.drop(columns=["Target"]).head(200)
    expected = pyfunc.predict(frame)
    with TestClient(create_app(registry.settings, poll=False)) as client:
        # the compiled scorer proved itself against the model at load (serving/compiled/)
        described = client.get("/v1/model").json()
        assert described["fast_path"], described["fast_path_members"]
        # One at a time (the single-student fast path) and as one batch.
        singles = [client.post("/v1/predict", json=r).json() for r in as_records(frame[:50])]
        batch = client.post("/v1/predict", json=as_records(frame)).json()
    for answers in (singles, batch):
        n = len(answers)
        for cls in ("Dropout", "Not dropout"):
            got = np.array([a["probabilities"][cls] for a in answers])
            np.testing.assert_allclose(got, expected[f"proba_{cls}"][:n], rtol=0, atol=1e-6)
        np.testing.assert_allclose(
            [a["risk_score"] for a in answers], expected["risk_score"][:n], rtol=0, atol=1e-6
        )
        assert [a["prediction"] for a in answers] == list(expected["prediction"][:n])
        assert {a["model_version"] for a in answers} == {registry.versions[0]}


def test_explanations_from_the_real_model(registry: Registry, as_records: Any) -> None:
    with TestClient(create_app(registry.settings, poll=False)) as client:
        record = as_records(registry.cohort.head(1))[0]
        r = client.post("/v1/predict?explain=true&top_k=3", json=record)
    assert r.status_code == 200, r.text
    reasons = r.json()["reasons"]
    assert reasons["units"] == "percentage points of risk"
    assert 0 < len(reasons["up"]) + len(reasons["down"]) <= 6
    groups = load_profile(PROFILE).feature_groups
    for item in reasons["up"]:
        assert item["contribution"] > 0 and (item["feature"] in record or item["feature"] in groups)


def test_admin_reload_follows_the_champion_alias(registry: Registry, as_records: Any) -> None:
    settings = registry.settings.model_copy(update={"admin_keys": [SecretStr("adm")]})
    first, second = registry.versions
    record = as_records(registry.cohort.head(1))[0]
    try:
        with TestClient(create_app(settings, poll=False)) as client:
            assert client.get("/ready").json()["model_version"] == first
            registry.promote(second)
            r = client.post("/v1/admin/reload", headers={"X-API-Key": "adm"})
            assert r.json() == {
                "outcome": "swapped",
                "previous": first,
                "current": second,
                "detail": "",
            }
            assert client.post("/v1/predict", json=record).json()["model_version"] == second
            body = client.get("/v1/model").json()
            assert body["version"] == second and body["metrics"]
            assert "studentops_model_reloads_total" in client.get("/metrics").text
    finally:
        registry.promote(first)


def test_score_file_with_the_champion(registry: Registry, tmp_path: Path) -> None:
    from studentops.monitoring.predlog import read_predictions
    from studentops.serving.batch import load_predictor, score_file, top_risk_students

    frame = registry.cohort.drop(columns=["Target"]).copy()
    frame.insert(0, "student_id", [f"stu-{i}" for i in range(len(frame))])
    frame = frame.astype(object)
    frame.loc[3, "Course"] = 42  # unknown category: rejected with its reason
    data = tmp_path / "cohort.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / "scored.csv"
    summary = score_file(PROFILE, data, out, explain=True, settings=registry.settings)
    assert (summary.rows, summary.accepted, summary.rejected) == (300, 299, 1)
    assert summary.model_version == registry.versions[0]
    scored = pd.read_csv(out)
    assert len(scored) == 299 and scored["risk_score"].is_monotonic_decreasing
    assert scored["rank"].tolist() == list(range(1, 300))
    assert scored["reasons"].str.contains("up: |down: ", regex=True).all()
    rejects = pd.read_csv(summary.rejects_path)
    assert rejects.loc[0, "row"] == 4 and rejects.loc[0, "reason"] == "unknown category"
    logged = read_predictions(registry.settings.prediction_log)
    batch_rows = logged[logged["source"] == "batch"]
    assert len(batch_rows) >= 299
    assert not batch_rows["student_key"].str.startswith("stu-").any()

    predictor = load_predictor(PROFILE, registry.settings)
    top = top_risk_students(predictor, frame, n=5)
    assert [t["rank"] for t in top] == [1, 2, 3, 4, 5]
    assert top[0]["student_id"] == scored.loc[0, "student_id"]
    assert top[0]["risk_score"] == pytest.approx(scored.loc[0, "risk_score"])
    assert top[0]["reasons"]["up"] or top[0]["reasons"]["down"]


def test_cli_score(registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from studentops.cli import _register_parts, app

    for key, value in {
        "STUDENTOPS_HOME": str(registry.settings.home),
        "STUDENTOPS_CONFIG": str(tmp_path / "none.yaml"),
    }.items():
        monkeypatch.setenv(key, value)
    data = tmp_path / "in.parquet"
    registry.cohort.drop(columns=["Target"]).to_parquet(data)
    _register_parts()
    result = CliRunner().invoke(
        app, ["score", "--profile", PROFILE, "--data", str(data), "--out", str(tmp_path / "o.csv")]
    )
    assert result.exit_code == 0, result.output
    assert "scored 300 of 300 rows" in result.output
    assert len(pd.read_csv(tmp_path / "o.csv")) == 300


def test_schema_has_the_real_models_fields(registry: Registry) -> None:
    with TestClient(create_app(registry.settings, poll=False)) as client:
        spec: dict[str, Any] = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    record = schemas["UciDropoutBinaryStudent"]
    assert "Gender" not in record["properties"]  # sensitive: not a feature
    assert "student_id" in record["properties"]
