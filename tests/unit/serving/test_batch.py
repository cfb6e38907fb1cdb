"""Batch scoring: validated like training, ranked by risk, rejects kept, same numbers as the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from studentops.config import Settings
from studentops.monitoring.predlog import read_predictions
from studentops.serving.batch import score_file, score_frame, top_risk_students
from studentops.serving.predictor import ModelInfo, Predictor, RiskBands

from .standin import fake_explainer


@pytest.fixture
def predictor(model: Any) -> Predictor:
    info = ModelInfo("studentops-uci-dropout-binary", "4", "uci-dropout-binary")
    return Predictor(model, info, RiskBands(0.6, 0.3), fake_explainer)


@pytest.fixture
def students(cohort: pd.DataFrame) -> pd.DataFrame:
    frame = cohort.drop(columns=["Target"]).head(200).astype(str)
    frame.insert(0, "student_id", [f"id-{i}" for i in range(200)])
    frame.loc[2, "Course"] = "99"  # unknown category
    frame.loc[5, "Admission grade"] = "12a"  # wrong type
    frame.loc[9, "Debtor"] = ""  # missing
    return frame


def test_batch_and_api_paths_give_the_same_numbers(
    predictor: Predictor, students: pd.DataFrame
) -> None:
    scored, result, scores = score_frame(predictor, students)
    assert scores is not None and result.rejected == 3
    records = result.valid[predictor.features].to_dict("records")
    one_by_one = [predictor.predict_records([r])[0]["risk_score"] for r in records[:25]]
    by_position = dict(zip(result.valid.index, scores.risk, strict=True))
    np.testing.assert_allclose(
        one_by_one, [by_position[i] for i in result.valid.index[:25]], rtol=0, atol=1e-12
    )
    assert scored["risk_score"].is_monotonic_decreasing
    assert scored["rank"].tolist() == list(range(1, 198))


def test_score_file_writes_ranked_rows_rejects_and_log(
    predictor: Predictor, students: pd.DataFrame, settings: Settings, tmp_path: Path
) -> None:
    data = tmp_path / "in.csv"
    students.to_csv(data, index=False)
    out = tmp_path / "out.parquet"
    summary = score_file(
        "uci-dropout-binary", data, out, explain=True, settings=settings, predictor=predictor
    )
    assert (summary.rows, summary.accepted, summary.rejected, summary.logged) == (200, 197, 3, 197)
    scored = pd.read_parquet(out)
    assert len(scored) == 197 and scored["risk_score"].is_monotonic_decreasing
    assert {"prediction", "proba_Dropout", "risk_band", "rank", "reasons"} <= set(scored.columns)
    assert scored["reasons"].str.startswith("up: ").all()
    assert scored["reasons"].str.endswith("[pp = percentage points of risk]").all()
    assert set(scored["model_version"]) == {"4"}
    # student_id is not in the profile: copied through as it came, and the warning says so
    assert scored["student_id"].str.startswith("id-").all()
    assert any("copied to the output unscored: student_id" in w for w in summary.warnings)
    assert not any("ignored" in w for w in summary.warnings)
    # the rejects land where the help says: beside --out, ranked.csv -> ranked.rejects.csv
    assert summary.rejects_path == tmp_path / "out.rejects.csv"
    assert summary.band_rule.startswith("high: predicted Dropout")
    rejects = pd.read_csv(summary.rejects_path)
    assert sorted(rejects["row"]) == [3, 6, 10]
    assert set(rejects["reason"]) == {
        "unknown category",
        "wrong type (expected number)",
        "missing required value",
    }
    logged = read_predictions(settings.prediction_log)
    assert len(logged) == 197 and set(logged["source"]) == {"batch"}
    assert not logged["student_key"].str.startswith("id-").any()
    assert logged.loc[0, "features"]["Course"] is not None


def test_top_risk_students(predictor: Predictor, students: pd.DataFrame) -> None:
    top = top_risk_students(predictor, students, n=5, top_k=2)
    assert [t["rank"] for t in top] == [1, 2, 3, 4, 5]
    risks = [t["risk_score"] for t in top]
    assert risks == sorted(risks, reverse=True)
    scored, _, _ = score_frame(predictor, students)
    assert [t["student_id"] for t in top] == scored["student_id"].head(5).tolist()
    assert len(top[0]["reasons"]["up"]) == 2


def test_a_file_with_no_valid_row(predictor: Predictor, students: pd.DataFrame) -> None:
    bad = students.head(3).assign(Course="nope")
    scored, result, scores = score_frame(predictor, bad)
    assert scores is None and scored.empty and result.rejected == 3


def test_copied_text_columns_round_trip_as_written(
    predictor: Predictor, students: pd.DataFrame, settings: Settings, tmp_path: Path
) -> None:
    import csv

    frame = students.head(20).copy()
    frame["student_id"] = [f"{i:06d}" for i in range(20)]  # leading zeros, as exported
    frame.insert(1, "name", ["Smith, Ana", 'Bo "Ace" Li', "line\nbreak", "plain"] * 5)
    data, out = tmp_path / "in.csv", tmp_path / "out.csv"
    frame.to_csv(data, index=False)
    score_file(
        "uci-dropout-binary",
        data,
        out,
        settings=settings,
        predictor=predictor,
        log_predictions=False,
    )
    with open(data, newline="", encoding="utf-8") as f:
        given = {row["student_id"]: row for row in csv.DictReader(f)}
    text = out.read_text(encoding="utf-8")
    assert text.startswith("student_id,name,")  # no quotes around plain header names
    assert "\n000000," in text and '"000' not in text  # nor plain ids
    assert '"Smith, Ana"' in text and '"Bo ""Ace"" Li"' in text  # quoted only where needed
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 17  # three rows of `students` are rejected
    for row in rows:
        assert {c: row[c] for c in frame.columns} == given[row["student_id"]]
