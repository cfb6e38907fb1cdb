"""POST /v1/predict: answers for one student or a list, equal to the model's own output."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from studentops.serving.predictor import Predictor

from .helpers import MemorySource, make_client


def test_one_student_gets_one_answer(client: TestClient, record: dict[str, Any]) -> None:
    r = client.post("/v1/predict", json=record)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["student_id"] == "s-0001"
    assert body["prediction"] in ("Dropout", "Not dropout")
    assert set(body["probabilities"]) == {"Dropout", "Not dropout"}
    assert body["risk_score"] == pytest.approx(body["probabilities"]["Dropout"])
    assert body["risk_band"] in ("high", "medium", "low")
    assert body["model_name"] == "studentops-uci-dropout-binary"
    assert body["model_version"] == "1"
    assert "reasons" not in body


def test_list_gets_list_in_order_equal_to_model(
    client: TestClient, records: list[dict[str, Any]], model: Any
) -> None:
    r = client.post("/v1/predict", json=records)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [b["student_id"] for b in body] == [rec["student_id"] for rec in records]
    predictor: Predictor = client.app.state.serving.holder.current
    clean, _ = predictor.validate(records)
    expected = model.predict_proba_matrix(model.encode_records(clean))[:, 1]
    got = np.array([b["probabilities"]["Dropout"] for b in body])
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_risk_band_follows_settings_thresholds(client: TestClient, records: list[dict]) -> None:
    body = client.post("/v1/predict", json=records).json()
    bands = client.app.state.serving.holder.current.bands
    for b in body:
        score = b["risk_score"]
        want = "high" if score >= bands.high else "medium" if score >= bands.medium else "low"
        assert b["risk_band"] == want


def test_explain_adds_reasons(client: TestClient, records: list[dict[str, Any]]) -> None:
    r = client.post("/v1/predict?explain=true&top_k=2", json=records[:3])
    assert r.status_code == 200, r.text
    for answer in r.json():
        reasons = answer["reasons"]
        assert reasons["units"] == "percentage points of risk"
        assert len(reasons["up"]) == 2 and len(reasons["down"]) == 2
        assert {"feature", "value", "label", "contribution"} <= set(reasons["up"][0])
        assert reasons["up"][0]["contribution"] > 0 > reasons["down"][0]["contribution"]


def test_codes_are_accepted_in_any_spelling(client: TestClient, record: dict[str, Any]) -> None:
    spelled = dict(record, **{"Course": str(record["Course"]), "Gender": None})
    spelled["Marital status"] = float(record["Marital status"])
    plain = client.post("/v1/predict", json=record).json()
    other = client.post("/v1/predict", json=spelled).json()
    assert other["risk_score"] == plain["risk_score"]


def test_extra_keys_are_ignored(client: TestClient, record: dict[str, Any]) -> None:
    r = client.post("/v1/predict", json=dict(record, name="Ada Lovelace", Target="Dropout"))
    assert r.status_code == 200


def test_no_model_is_503_and_not_ready(settings: Any, model: Any) -> None:

    empty = MemorySource()
    with make_client(settings, empty, poll=False) as c:
        assert c.get("/ready").status_code == 503
        r = c.post("/v1/predict", json={})
        assert r.status_code == 503
        assert "no model" in r.json()["detail"]
        assert c.get("/health").status_code == 200
