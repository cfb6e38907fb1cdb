"""The prediction log on a real PostgreSQL server, written by the API and by batch scoring."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from studentops.databases import with_installed_driver
from studentops.monitoring.predlog import LogRow, PredictionLog, read_predictions
from studentops.monitoring.pseudonym import Pseudonymiser

pytestmark = [pytest.mark.integration]


def test_rows_land_in_postgres_with_jsonb_and_keyed_ids(postgres_url: str) -> None:
    url = with_installed_driver(postgres_url)
    rows = [
        LogRow(
            ts=time.time(),
            student_id=f"raw-id-{i}",
            features={"Age": 19 + i, "Course": "law"},
            prediction="Dropout",
            risk_score=0.8,
            risk_band="high",
            output={"probabilities": {"Dropout": 0.8}},
            model_name="m",
            model_version="2",
            latency_ms=0.4,
            profile="p",
        )
        for i in range(2500)  # more than one writer batch
    ]
    with PredictionLog(url, "pg-key", batch_size=1000) as log:
        assert log.submit(rows) == 2500
        assert log.flush(30)
    frame = read_predictions(url)
    assert len(frame) == 2500 and log.dropped == {"queue_full": 0, "write_error": 0}
    assert frame.loc[0, "student_key"] == Pseudonymiser("pg-key")("raw-id-0")
    assert frame.loc[7, "features"] == {"Age": 26, "Course": "law"}
    assert str(frame["ts"].dt.tz) == "UTC"

    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        kind = conn.execute(
            text(
                "select data_type from information_schema.columns "
                "where table_name = 'predictions' and column_name = 'features'"
            )
        ).scalar()
        raw_ids = conn.execute(
            text(
                "select count(*) from predictions where features::text like '%raw-id%' "
                "or student_key like 'raw-id%'"
            )
        ).scalar()
        by_course = conn.execute(
            text("select count(*) from predictions where features->>'Course' = 'law'")
        ).scalar()
    engine.dispose()
    assert kind == "jsonb" and raw_ids == 0 and by_course == 2500


def test_api_logs_to_postgres(registry: Any, postgres_url: str, as_records: Any) -> None:
    from studentops.serving.app import create_app

    settings = registry.settings.model_copy(update={"prediction_log_url": postgres_url})
    with TestClient(create_app(settings, poll=False)) as client:
        r = client.post("/v1/predict", json=as_records(registry.cohort.head(10)))
        assert r.status_code == 200
        log = client.app.state.serving.log
        assert log.flush(30)
    frame = read_predictions(with_installed_driver(postgres_url))
    assert len(frame) == 10
    assert set(frame["model_version"]) == {registry.versions[0]}
    assert frame["latency_ms"].gt(0).all()
