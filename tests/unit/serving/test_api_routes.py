"""The other routes: CSV scoring, model metadata, health, readiness, metrics, keys and CORS."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
from fastapi.testclient import TestClient
from pydantic import SecretStr

from .helpers import make_client


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, sep=";").encode()


def test_csv_is_scored_ranked_and_rejects_are_reported(
    client: TestClient, cohort: pd.DataFrame
) -> None:
    frame = cohort.drop(columns=["Target"]).head(30).copy()
    frame.insert(0, "student_id", [f"s{i}" for i in range(30)])
    frame = frame.astype(object)
    frame.loc[4, "Course"] = 1  # unknown category
    frame.loc[7, "Age at enrollment"] = "old"  # wrong type
    r = client.post("/v1/predict/csv", files={"file": ("in.csv", csv_bytes(frame), "text/csv")})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["x-rows-accepted"] == "28" and r.headers["x-rows-rejected"] == "2"
    out = pd.read_csv(io.StringIO(r.text))
    assert len(out) == 30
    ok = out[out["status"] == "ok"]
    assert ok["risk_score"].is_monotonic_decreasing
    assert ok["rank"].tolist() == list(range(1, 29))
    assert {"prediction", "proba_Dropout", "proba_Not dropout", "risk_band"} <= set(out.columns)
    assert set(ok["prediction"]) <= {"Dropout", "Not dropout"}
    raw = pd.read_csv(io.StringIO(r.text), dtype=str)
    assert raw.loc[raw["status"] == "ok", "rank"].str.fullmatch(r"\d+").all()  # integer ranks
    assert r.headers["x-risk-bands"].startswith("high: predicted Dropout")
    # a student predicted at risk is in the top band
    assert (ok.loc[ok["prediction"] == "Dropout", "risk_band"] == "high").all()
    bad = out[out["status"] == "rejected"].set_index("student_id")
    assert bad.loc["s4", "errors"] == "Course: unknown category"
    assert bad.loc["s7", "errors"].startswith("Age at enrollment: wrong type")


def test_csv_without_required_columns_or_not_csv_is_422(client: TestClient) -> None:
    r = client.post("/v1/predict/csv", files={"file": ("x.csv", b"a,b\n1,2\n", "text/csv")})
    assert r.status_code == 422
    assert "missing required column" in r.json()["detail"][0]["message"]
    r = client.post("/v1/predict/csv", files={"file": ("x.csv", b"\xff\xfe\x00", "text/csv")})
    assert r.status_code == 422
    r = client.post("/v1/predict/csv", files={"file": ("x.csv", b"", "text/csv")})
    assert r.status_code == 422
    r = client.post("/v1/predict/csv", data={"nofile": "1"})
    assert r.status_code == 422


def test_csv_over_the_row_limit_is_413(settings: Any, source: Any, cohort: pd.DataFrame) -> None:
    settings.max_batch_rows = 10
    with make_client(settings, source) as c:
        data = csv_bytes(cohort.drop(columns=["Target"]).head(11))
        r = c.post("/v1/predict/csv", files={"file": ("x.csv", data, "text/csv")})
        assert r.status_code == 413


def test_model_metadata(client: TestClient) -> None:
    body = client.get("/v1/model").json()
    assert body["name"] == "studentops-uci-dropout-binary" and body["version"] == "1"
    assert body["metrics"] == {"roc_auc": 0.9}
    assert body["profile"]["name"] == "uci-dropout-binary"
    assert body["classes"] == ["Not dropout", "Dropout"]
    bands = body["risk_bands"]
    assert (bands["mode"], bands["high"], bands["medium"]) == ("cutoffs", 0.6, 0.3)
    assert bands["decision"].startswith("predicted Dropout (risk >= 0.50")
    assert "high: predicted Dropout" in bands["rule"]
    assert body["reason_units"] == "percentage points of risk"


def test_health_ready_and_docs(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json()["model_version"] == "1"
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["application/json"]
    ref = body["schema"]["oneOf"][0]["$ref"].rsplit("/", 1)[1]
    record = spec["components"]["schemas"][ref]
    assert "Course" in record["properties"] and "Course" in record["required"]
    assert 33 in record["properties"]["Course"]["enum"]
    assert record["properties"]["Age at enrollment"]["maximum"] == 100


def test_metrics_count_requests_predictions_errors_and_model(
    client: TestClient, records: list[dict[str, Any]]
) -> None:
    client.post("/v1/predict", json=records[:5])
    client.post("/v1/predict", json={"Course": 1})
    text = client.get("/metrics").text
    assert 'studentops_requests_total{method="POST",route="/v1/predict",status="200"} 1.0' in text
    assert 'studentops_request_errors_total{route="/v1/predict",status="422"} 1.0' in text
    assert "studentops_request_latency_seconds_bucket" in text
    assert 'studentops_model_info{name="studentops-uci-dropout-binary",version="1"} 1.0' in text
    assert "studentops_predictions_total" in text
    total = sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("studentops_predictions_total")
    )
    assert total == 5
    assert "studentops_prediction_log_dropped_total" in text or (
        "studentops_prediction_log_dropped" in text
    )


def test_predictions_reach_the_log(client: TestClient, records: list[dict[str, Any]]) -> None:
    from studentops.monitoring.predlog import read_predictions

    client.post("/v1/predict", json=records[:4])
    state = client.app.state.serving
    assert state.log.flush(10)
    logged = read_predictions(state.log.url)
    assert len(logged) == 4
    assert set(logged["source"]) == {"api"} and set(logged["model_version"]) == {"1"}
    assert not any(str(k).startswith("s-") for k in logged["student_key"])


def test_api_keys_when_required(settings: Any, source: Any, record: dict[str, Any]) -> None:
    settings.require_api_key = True
    settings.api_keys = [SecretStr("k-user")]
    settings.admin_keys = [SecretStr("k-admin")]
    with make_client(settings, source) as c:
        assert c.post("/v1/predict", json=record).status_code == 401
        assert c.post("/v1/predict", json=record, headers={"X-API-Key": "nope"}).status_code == 403
        assert (
            c.post("/v1/predict", json=record, headers={"X-API-Key": "k-user"}).status_code == 200
        )
        assert (
            c.post("/v1/predict", json=record, headers={"X-API-Key": "k-admin"}).status_code == 200
        )
        assert c.get("/v1/model", headers={"X-API-Key": "k-user"}).status_code == 200
        assert c.get("/v1/model").status_code == 401
        assert c.get("/health").status_code == 200  # probes need no key


def test_admin_needs_an_admin_key(settings: Any, source: Any) -> None:
    with make_client(settings, source) as c:  # no admin keys configured: closed
        assert c.post("/v1/admin/reload").status_code == 403
    settings.admin_keys = [SecretStr("k-admin")]
    settings.api_keys = [SecretStr("k-user")]
    with make_client(settings, source) as c:
        assert c.post("/v1/admin/reload").status_code == 401
        assert c.post("/v1/admin/reload", headers={"X-API-Key": "k-user"}).status_code == 403
        r = c.post("/v1/admin/reload", headers={"X-API-Key": "k-admin"})
        assert r.status_code == 200 and r.json()["outcome"] == "unchanged"


def test_cors_origins_are_configurable(settings: Any, source: Any, record: dict) -> None:
    settings.cors_origins = ["https://dash.example.edu"]
    with make_client(settings, source) as c:
        pre = c.options(
            "/v1/predict",
            headers={
                "Origin": "https://dash.example.edu",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "X-API-Key",
            },
        )
        assert pre.headers["access-control-allow-origin"] == "https://dash.example.edu"
        r = c.post("/v1/predict", json=record, headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers


def test_metrics_label_every_route(client: TestClient) -> None:
    client.get("/v1/model")
    client.get("/health")
    client.get("/ready")
    client.get("/docs")
    client.get("/no/such/route")
    client.post("/v1/predict/csv", data={"nofile": "1"})
    text = client.get("/metrics").text
    for route, status in (
        ("/v1/model", 200),
        ("/health", 200),
        ("/ready", 200),
        ("/docs", 200),
        ("unmatched", 404),
        ("/v1/predict/csv", 422),
    ):
        assert f'route="{route}",status="{status}"' in text, route
