"""Every flow end to end on a real (harness) Prefect server: what it produced, what it reported."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from studentops.errors import DataError

from .conftest import PROFILE

pytestmark = pytest.mark.usefixtures("harness")


@pytest.fixture(scope="module")
def students(flow_home: Path) -> pd.DataFrame:
    """A synthetic cohort with an id column; the first 400 rows train, the rest are scored."""
    from studentops.datasets.profile import load_profile
    from studentops.datasets.synthetic import generate_cohort

    frame = generate_cohort(load_profile(PROFILE), 600, seed=7)
    frame.insert(0, "student_id", [f"S{i:05d}" for i in range(len(frame))])
    return frame


@pytest.fixture(scope="module")
def trained(flow_home: Path, students: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory):
    from studentops.flows.definitions import train_flow

    data = tmp_path_factory.mktemp("train") / "cohort.csv"
    students.iloc[:400].drop(columns=["student_id"]).to_csv(data, index=False)
    return train_flow(PROFILE, str(data), time_budget_s=4.0, promote=True)


@pytest.fixture
def new_term(students: pd.DataFrame) -> pd.DataFrame:
    from studentops.datasets.profile import load_profile

    profile = load_profile(PROFILE)
    drop = [c for c in (profile.target.column, profile.target_source) if c]
    return students.iloc[400:].drop(columns=drop)


def _artifact(key: str) -> Any:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )
    assert found, f"no artifact {key}"
    return found[0]


def test_train_flow_validates_trains_registers_and_promotes(trained: dict[str, Any]) -> None:
    assert trained["flow"] == "train"
    assert trained["validation"]["rows"] == 400
    assert trained["version"] == "1" and trained["model"]
    assert trained["promoted"] is True and "champion" in trained["aliases"]
    assert {g["gate"] for g in trained["gates"]}
    artifact = _artifact(f"training-{PROFILE}")
    assert f"v{trained['version']}" in artifact.data


def test_score_flow_writes_a_ranked_list_and_a_pseudonymised_artifact(
    trained: dict[str, Any], new_term: pd.DataFrame, tmp_path: Path
) -> None:
    from studentops.flows.definitions import score_flow

    data = tmp_path / "term.csv"
    new_term.to_csv(data, index=False)
    out = tmp_path / "risk.csv"
    report = score_flow(PROFILE, data=str(data), out=str(out), top=5)
    assert (report["rows"], report["accepted"], report["rejected"]) == (200, 200, 0)
    assert report["model_version"] == trained["version"] and report["logged"] == 200
    ranked = pd.read_csv(out)
    assert len(ranked) == 200 and ranked["risk_score"].is_monotonic_decreasing
    table = json.loads(_artifact(f"risk-list-{PROFILE}").data)
    assert [row["rank"] for row in table] == [1, 2, 3, 4, 5]
    assert table[0]["risk_score"] == pytest.approx(ranked["risk_score"].iloc[0], abs=1e-4)
    raw_ids = set(new_term["student_id"])
    assert all(len(row["student"]) == 32 and row["student"] not in raw_ids for row in table)


def test_score_flow_reads_a_folder_into_one_list(
    trained: dict[str, Any], new_term: pd.DataFrame, tmp_path: Path, flow_home: Path
) -> None:
    from studentops.flows.definitions import score_flow

    folder = tmp_path / "exports"
    folder.mkdir()
    new_term.iloc[:120].to_csv(folder / "school-a.csv", index=False)
    new_term.iloc[120:].to_csv(folder / "school-b.csv", index=False)
    (folder / "notes.txt").write_text("not a table")
    report = score_flow(PROFILE, folder=str(folder), log_predictions=False)
    assert report["accepted"] == 200 and "2 files" in report["source"]
    assert Path(report["out_path"]).parent == flow_home / "flows" / PROFILE


def test_score_flow_reads_a_sql_query(
    trained: dict[str, Any], new_term: pd.DataFrame, tmp_path: Path
) -> None:
    from studentops.flows.definitions import score_flow

    db = tmp_path / "sis.db"
    with sqlite3.connect(db) as conn:
        new_term.to_sql("students", conn, index=False)
    report = score_flow(
        PROFILE,
        sql="SELECT * FROM students WHERE Absences > 10",
        sql_url=f"sqlite:///{db}",
        out=str(tmp_path / "risk.parquet"),
        log_predictions=False,
    )
    expected = int((pd.to_numeric(new_term["Absences"]) > 10).sum())
    assert report["rows"] == expected > 0 and report["source"] == "SQL query"
    assert len(pd.read_parquet(report["out_path"])) == report["accepted"]


def test_failed_flow_is_reported_and_user_errors_are_not_retried(
    flow_home: Path, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from studentops.flows.definitions import score_flow

    state = score_flow(PROFILE, data=str(tmp_path / "missing.csv"), return_state=True)
    assert state.is_failed()
    with pytest.raises(DataError, match="file not found"):
        state.result()
    alerts = [
        json.loads(line)
        for line in (flow_home / "alerts" / "alerts.jsonl").read_text().splitlines()
    ]
    run_id = str(state.state_details.flow_run_id)
    mine = [a for a in alerts if any(run_id in d for d in a["details"])]
    assert len(mine) == 1 and "flow 'score' failed" in mine[0]["title"]
    assert mine[0]["profile"] == PROFILE and mine[0]["severity"] == "critical"
    assert any("file not found" in d for d in mine[0]["details"])
    with get_client(sync_client=True) as client:
        tasks = client.read_task_runs(
            flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[state.state_details.flow_run_id])
            )
        )
    assert [t.run_count for t in tasks if t.name.startswith("gather_input")] == [1]


def test_network_steps_retry_transient_errors_only() -> None:
    from prefect import flow

    from studentops.flows.definitions import network_task

    calls = {"flaky": 0, "user": 0}

    def flaky() -> str:
        calls["flaky"] += 1
        if calls["flaky"] < 3:
            raise ConnectionError("registry unreachable")
        return "ok"

    def user_error() -> None:
        calls["user"] += 1
        raise DataError("bad input")

    @flow
    def run_both() -> str:
        result = network_task(flaky).with_options(retry_delay_seconds=0)()
        state = network_task(user_error).with_options(retry_delay_seconds=0)(return_state=True)
        assert state.is_failed()
        return str(result)

    assert run_both() == "ok"
    assert calls == {"flaky": 3, "user": 1}


def test_events_features_flow_builds_the_current_week(flow_home: Path, tmp_path: Path) -> None:
    import polars as pl

    from studentops.events.synthetic import generate_oulad, write_oulad
    from studentops.flows.definitions import events_features_flow

    write_oulad(generate_oulad(40, seed=1, clicks_per_student=20), tmp_path / "oulad")
    start = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=30)
    report = events_features_flow(oulad=str(tmp_path / "oulad"), term_start=start)
    assert report["week"] == 4 and report["rows"] == 40
    frame = pl.read_parquet(report["out_path"])
    assert frame.height == 40 and set(frame["week"].to_list()) == {4}
    assert report["events_out"] <= report["events_in"]


def test_events_features_flow_needs_a_week(flow_home: Path, tmp_path: Path) -> None:
    from studentops.flows.definitions import events_features_flow

    with pytest.raises(DataError, match="week or term_start"):
        events_features_flow(oulad=str(tmp_path))


def test_monitor_flow_checks_the_logged_window_and_publishes_a_summary(
    trained: dict[str, Any], new_term: pd.DataFrame, tmp_path: Path
) -> None:
    from studentops.flows.definitions import monitor_flow, score_flow

    data = tmp_path / "term.csv"
    new_term.to_csv(data, index=False)
    score_flow(PROFILE, data=str(data), out=str(tmp_path / "risk.csv"), top=0)
    report = monitor_flow(PROFILE, retrain=False)
    assert report["flow"] == "monitor" and report["model_version"] == trained["version"]
    assert report["n_rows"] >= 200 and report["status"] in ("ok", "drift")
    assert report["check_id"] is not None and Path(report["report_html"]).is_file()
    assert report["retrain"] is None
    summary = _artifact(f"monitoring-{PROFILE}").data
    assert f"v{trained['version']}" in summary and f"{report['n_rows']:,} rows" in summary


def test_retrain_flow_decides_through_the_gates(
    trained: dict[str, Any], students: pd.DataFrame, tmp_path: Path
) -> None:
    from studentops.flows.definitions import retrain_flow

    labelled = tmp_path / "labelled.csv"
    students.iloc[400:].drop(columns=["student_id"]).to_csv(labelled, index=False)
    report = retrain_flow(PROFILE, data=str(labelled), time_budget_s=4.0, trigger="test")
    assert report["flow"] == "retrain" and report["outcome"] in ("promoted", "kept")
    assert report["champion_version"] == trained["version"]
    assert int(report["challenger_version"]) > int(trained["version"])
    assert report["eval_rows"] >= 50 and report["gates"] and report["trigger"] == "test"
    assert "challenger v" in _artifact(f"retraining-{PROFILE}").data
