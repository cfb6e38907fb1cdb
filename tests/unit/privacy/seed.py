"""Stores with known student rows, shared by the SQLite unit tests and the PostgreSQL
integration test: predictions, outcomes and monitoring checks, old and recent."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, insert, select

from studentops.config import Settings
from studentops.databases import with_installed_driver
from studentops.monitoring.predlog import LogRow, PredictionLog, make_engine, predictions
from studentops.monitoring.pseudonym import Pseudonymiser
from studentops.monitoring.store import MonitorStore, Outcome, checks, feature_results, outcomes

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
OLD = NOW - dt.timedelta(days=500)
RECENT = NOW - dt.timedelta(days=10)
STUDENTS = ("STU-ALPHA-0001", "STU-BRAVO-0002", "STU-CHARLIE-0003")


def log_predictions(settings: Settings, rows: list[tuple[str, dt.datetime]], key: Any) -> None:
    log = PredictionLog(with_installed_driver(settings.prediction_log), key).start()
    log.submit(
        LogRow(
            ts=when.timestamp(),
            student_id=sid,
            features={"attendance": 0.5},
            prediction="yes",
            risk_score=0.7,
            risk_band="high",
            output={"proba_yes": 0.7},
            model_name="studentops-toy-dropout",
            model_version="1",
            latency_ms=1.0,
            profile="toy-dropout",
        )
        for sid, when in rows
    )
    assert log.flush(30)
    log.close()


def seed(settings: Settings) -> None:
    """Each student: an old and a recent prediction and outcome; one old and one recent check."""
    key = settings.pseudonym_key
    log_predictions(settings, [(s, t) for s in STUDENTS for t in (OLD, RECENT)], key)
    pseudo = Pseudonymiser(key)
    with MonitorStore(settings.prediction_log) as store:
        store.write_outcomes(
            "toy-dropout",
            [
                Outcome(pseudo(s), "yes", t, {"gender": "f"})
                for s in STUDENTS
                for t in (OLD, RECENT)
            ],
        )
        with store.engine.begin() as conn:
            for when in (OLD, RECENT):
                check_id = conn.execute(
                    insert(checks).values(
                        started_at=when, profile="toy-dropout", kind="drift", status="ok"
                    )
                ).inserted_primary_key[0]
                conn.execute(
                    insert(feature_results).values(
                        check_id=check_id, feature="attendance", kind="numeric"
                    )
                )


def counts(settings: Settings) -> dict[str, int]:
    engine = make_engine(with_installed_driver(settings.prediction_log))
    try:
        with engine.connect() as conn:
            return {
                t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                for t in (predictions, outcomes, checks, feature_results)
            }
    finally:
        engine.dispose()


def keys_in(settings: Settings, table: Any) -> list[str]:
    engine = make_engine(with_installed_driver(settings.prediction_log))
    try:
        with engine.connect() as conn:
            return [r[0] for r in conn.execute(select(table.c.student_key))]
    finally:
        engine.dispose()


def check_purge_and_erase(settings: Settings) -> None:
    """The behaviour both backends must show."""
    from studentops.privacy.retention import erase, purge

    seed(settings)
    assert counts(settings) == {
        "predictions": 6,
        "outcomes": 6,
        "monitor_checks": 2,
        "monitor_features": 2,
    }
    removed = purge(settings, 365, now=NOW)
    assert removed.rows == {
        "predictions": 3,
        "outcomes": 3,
        "monitor_features": 1,
        "monitor_metrics": 0,
        "monitor_checks": 1,
    }
    assert counts(settings) == {
        "predictions": 3,
        "outcomes": 3,
        "monitor_checks": 1,
        "monitor_features": 1,
    }
    assert purge(settings, 365, now=NOW).total_rows == 0  # nothing left past retention

    gone = erase(settings, STUDENTS[1])
    assert gone.rows == {"predictions": 1, "outcomes": 1}
    key = Pseudonymiser(settings.pseudonym_key)(STUDENTS[1])
    assert key not in keys_in(settings, predictions) and key not in keys_in(settings, outcomes)
    assert len(keys_in(settings, predictions)) == 2  # the others stay
    assert STUDENTS[1] not in repr(gone.to_dict())  # the report never repeats the raw id
