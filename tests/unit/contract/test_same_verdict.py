"""One table of raw values, every path that takes student data in, one verdict each.

The paths: ``validate`` on a CSV file and on a frame of JSON-typed cells, the API's JSON route
(pydantic models) and CSV route, batch ``score``, the stream worker's scorer and the logged
MLflow pyfunc. Each row of :data:`TABLE` changes one field of a good record; every path must
accept it or refuse it, all alike.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from studentops.datasets.loading import read_table
from studentops.datasets.profile import Profile, load_profile
from studentops.datasets.validation import validate
from studentops.registry.pyfunc import predict_frame
from studentops.serving.app import create_app
from studentops.serving.batch import score_file
from studentops.serving.predictor import ModelInfo, Predictor, RecordsInvalid
from studentops.streaming.scoring import PredictorScorer

PROFILE = """\
name: same-verdict
id: student_id
columns:
  student_id: {type: text}
  age: {type: integer, min: 14, max: 40}
  absences: {type: integer, min: 0, max: 60}
  study_hours: {type: number, min: 0, max: 40}
  quiz_avg: {type: number, min: 0, max: 100, nullable: true}
  scholarship: {type: boolean}
  school: {type: category, categories: [North, South]}
  outcome: {type: category, categories: [Fail, Pass]}
target: {column: outcome, task: binary, positive: Fail}
"""

GOOD = {
    "student_id": "s1",
    "age": 21,
    "absences": 4,
    "study_hours": 6.5,
    "quiz_avg": 64,
    "scholarship": True,
    "school": "South",
}

# (field, raw value as a JSON client sends it, accepted?)
TABLE: list[tuple[str, Any, bool]] = [
    ("age", 22, True),
    ("age", "22", True),
    ("age", 22.0, True),
    ("age", 22.5, False),  # a fraction in an integer column
    ("age", "2_2", False),  # Python reads 22; the contract does not
    ("age", True, False),  # booleans are not numbers
    ("age", "twenty-two", False),
    ("age", None, False),  # required
    ("age", 10**30, False),  # out of range
    ("age", "NaN", False),  # an NA token: missing, and age is required
    ("study_hours", " 6.5 ", True),
    ("study_hours", "6,5", False),  # decimal comma where the profile says '.'
    ("study_hours", "1_5", False),
    ("study_hours", False, False),
    ("study_hours", "inf", False),
    ("study_hours", "1e400", False),
    ("quiz_avg", None, True),  # nullable
    ("quiz_avg", "N/A", True),
    ("quiz_avg", "#DIV/0!", True),
    ("quiz_avg", "NaN", True),
    ("quiz_avg", "64%", True),
    ("quiz_avg", 100.5, False),
    ("quiz_avg", True, False),
    ("scholarship", "Yes", True),
    ("scholarship", "n", True),
    ("scholarship", "1", True),
    ("scholarship", 1, True),
    ("scholarship", 0, True),
    ("scholarship", 2, False),
    ("scholarship", "maybe", False),
    ("school", " north ", True),  # folded: case and surrounding spaces
    ("school", "SOUTH", True),
    ("school", "East", False),
    ("school", True, False),
    ("student_id", "000712", True),
]


def csv_cell(value: Any) -> str:
    """How a CSV export writes the value."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def to_csv(records: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(list(GOOD))
    writer.writerows([csv_cell(rec[c]) for c in GOOD] for rec in records)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Profile:
    path = tmp_path_factory.mktemp("profiles") / "same-verdict.yaml"
    path.write_text(PROFILE, encoding="utf-8")
    return load_profile(path)


@pytest.fixture(scope="module")
def model(profile: Profile, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from studentops.training.request import TrainRequest
    from studentops.training.train import train_model

    rng = np.random.default_rng(7)
    n = 240
    hours = rng.uniform(0, 20, n)
    absences = rng.integers(0, 30, n)
    risk = 1.5 - 0.25 * hours + 0.1 * absences + rng.normal(0, 0.8, n)
    frame = pd.DataFrame(
        {
            "student_id": [f"T{i:05d}" for i in range(n)],
            "age": rng.integers(16, 35, n),
            "absences": absences,
            "study_hours": hours.round(1),
            "quiz_avg": rng.uniform(0, 100, n).round(1),
            "scholarship": rng.choice(["yes", "no"], n),
            "school": rng.choice(["North", "South"], n),
            "outcome": np.where(risk > 0, "Fail", "Pass"),
        }
    ).astype(str)
    result = train_model(
        TrainRequest(
            frame=validate(frame, profile).valid,
            profile=profile,
            time_budget_s=4,
            n_trials=2,
            algorithms=["logistic_regression"],
            artifacts_dir=tmp_path_factory.mktemp("same-verdict-train"),
        )
    )
    return result.model


@pytest.fixture(scope="module")
def predictor(model: Any, profile: Profile) -> Predictor:
    return Predictor(model, ModelInfo("studentops-same-verdict", "1", profile.name))


class _Source:
    def __init__(self, model: Any) -> None:
        self.model = model

    def current_version(self) -> str:
        return "1"

    def load(self, version: str) -> tuple[Any, ModelInfo]:
        return self.model, ModelInfo("studentops-same-verdict", "1", self.model.profile.name)


@pytest.fixture(scope="module")
def client(
    model: Any, profile: Profile, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    from studentops.config import load_settings

    home = tmp_path_factory.mktemp("same-verdict-home")
    path = tmp_path_factory.mktemp("serve-profile") / "same-verdict.yaml"
    path.write_text(PROFILE, encoding="utf-8")
    settings = load_settings(home=home, serve_profile=str(path), reload_interval_s=3600)
    app = create_app(settings, source=_Source(model))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def verdicts(
    record: dict[str, Any],
    predictor: Predictor,
    client: TestClient,
    model: Any,
    profile: Profile,
    tmp: Path,
) -> dict[str, bool]:
    """Accepted (True) or refused (False), by each path."""
    out: dict[str, bool] = {}
    csv_path = tmp / "one.csv"
    csv_path.write_text(to_csv([GOOD, record]), encoding="utf-8")
    out["validate csv"] = (
        validate(read_table(csv_path), profile, require_target=False).rejected == 0
    )
    frame = pd.DataFrame([GOOD, record], dtype=object)
    out["validate frame"] = validate(frame, profile, require_target=False).rejected == 0
    try:
        predictor.validate(record)
        out["pydantic"] = True
    except RecordsInvalid:
        out["pydantic"] = False
    out["api json"] = client.post("/v1/predict", json=record).status_code == 200
    r = client.post("/v1/predict/csv", files={"file": ("d.csv", io.BytesIO(csv_path.read_bytes()))})
    assert r.status_code == 200, r.text
    out["api csv"] = r.headers["X-Rows-Rejected"] == "0"
    summary = score_file(
        profile.name, csv_path, tmp / "scored.csv", predictor=predictor, log_predictions=False
    )
    out["score"] = summary.rejected == 0
    out["stream"] = PredictorScorer(predictor).validate_record(record) is None
    scored = predict_frame(model, pd.DataFrame([record], dtype=object))
    out["pyfunc"] = "status" not in scored.columns
    return out


@pytest.mark.parametrize(("field", "value", "accepted"), TABLE)
def test_every_path_gives_the_same_verdict(
    field: str,
    value: Any,
    accepted: bool,
    predictor: Predictor,
    client: TestClient,
    model: Any,
    profile: Profile,
    tmp_path: Path,
) -> None:
    record = dict(GOOD, student_id="s2")  # another student beside the good one
    record[field] = value
    got = verdicts(record, predictor, client, model, profile, tmp_path)
    assert got == dict.fromkeys(got, accepted), f"{field}={value!r}"


def test_ids_stay_text_exactly_as_written(
    profile: Profile, client: TestClient, tmp_path: Path
) -> None:
    record = dict(GOOD, student_id="004711")
    path = tmp_path / "ids.csv"
    path.write_text(to_csv([record, dict(GOOD, student_id="4711")]), encoding="utf-8")
    valid = validate(read_table(path), profile, require_target=False).valid
    assert valid["student_id"].tolist() == ["004711", "4711"]  # two students, not a duplicate
    assert client.post("/v1/predict", json=record).json()["student_id"] == "004711"
