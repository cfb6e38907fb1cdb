"""The Predictor adapter, champion swaps through the ModelHolder, and the prediction log rows."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import orjson
import pytest

from studentops.config import load_settings
from studentops.datasets.profile import load_profile
from studentops.errors import ModelError
from studentops.serving.holder import ModelHolder
from studentops.serving.predictor import ModelInfo, Predictor, RecordsInvalid
from studentops.streaming.scoring import (
    HolderScorer,
    PredictionLogger,
    PredictorScorer,
    open_holder,
)
from studentops.streaming.worker import Worker

from .fakes import MemorySink, MemorySource

PROFILE = load_profile("uci-dropout-binary")
GRADE = "Admission grade"


class GradeModel:
    """Serving interface with a readable rule: risk = 1 - admission grade / 200."""

    profile = PROFILE
    task = "binary"
    classes_ = PROFILE.class_order()
    feature_columns = PROFILE.feature_columns

    def encode_records(self, records: list[dict[str, Any]]) -> np.ndarray:
        return np.array([[float(r[GRADE])] for r in records])

    def encode(self, frame: Any) -> np.ndarray:
        return frame[[GRADE]].to_numpy(float)

    def predict_proba_matrix(self, X: np.ndarray) -> np.ndarray:
        risk = 1 - X[:, 0] / 200
        return np.column_stack([1 - risk, risk])

    def predict_value_matrix(self, X: np.ndarray) -> np.ndarray:
        raise TypeError

    def decide(self, proba: np.ndarray) -> np.ndarray:
        return (proba[:, 1] >= 0.5).astype(int)

    def risk_from_output(self, output: np.ndarray) -> np.ndarray:
        return output[:, 1]


def student(**changes: Any) -> dict[str, Any]:
    """A valid record: every feature at a legal value."""
    record: dict[str, Any] = {}
    for name in PROFILE.feature_columns:
        col = PROFILE.columns[name]
        if col.type == "category":
            record[name] = (col.categories or [None])[0]
        else:
            record[name] = col.min if col.min is not None else 0
    record[GRADE] = 150.0
    record.update(changes)
    return record


def predictor(version: str = "1") -> Predictor:
    return Predictor(GradeModel(), ModelInfo("grade", version, PROFILE.name))


def test_adapter_scores_like_the_api() -> None:
    scorer = PredictorScorer(predictor())
    (out,) = scorer.score_batch([student()])
    assert out["prediction"] == "Not dropout"
    assert out["risk"]["score"] == pytest.approx(0.25)
    assert out["risk"]["band"] == "low"
    assert out["probabilities"] == {"Not dropout": 0.75, "Dropout": 0.25}
    assert out["model_version"] == "1"
    assert (scorer.name, scorer.version, scorer.profile) == ("grade", "1", PROFILE.name)


def test_adapter_names_every_bad_field() -> None:
    scorer = PredictorScorer(predictor())
    assert scorer.validate_record(student()) is None
    problem = scorer.validate_record(student(**{GRADE: 900, "Course": -1}))
    assert problem is not None
    assert "Admission grade: out of range" in problem and "Course: unknown category" in problem
    missing = student()
    del missing[GRADE]
    assert "Admission grade: missing" in (scorer.validate_record(missing) or "")
    with pytest.raises(RecordsInvalid):
        scorer.score_batch([student(), student(**{GRADE: "x"})])


class MovingChampion:
    """A registry whose champion alias can be moved by the test."""

    def __init__(self) -> None:
        self.version = "1"

    def current_version(self) -> str | None:
        return self.version

    def load(self, version: str) -> tuple[Any, ModelInfo]:
        return GradeModel(), ModelInfo("grade", version, PROFILE.name)


def test_the_worker_follows_the_champion_when_the_alias_moves() -> None:
    registry = MovingChampion()
    holder = ModelHolder(registry, lambda model, info: Predictor(model, info))
    assert holder.reload().outcome == "swapped"
    holder.start_polling(0.05)
    try:
        source = MemorySource()
        worker = Worker(source, MemorySink(), MemorySink(), HolderScorer(holder))

        def score_one(event_id: str) -> str:
            source.add(orjson.dumps({"event_id": event_id, "student_id": 1, "features": student()}))
            worker.process(worker.collect(threading.Event()))
            return worker.sink.decoded()[-1]["model_version"]

        assert score_one("a") == "1"
        registry.version = "2"  # promote a new champion
        deadline = time.monotonic() + 5
        while holder.version != "2" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert score_one("b") == "2"
    finally:
        holder.stop()


def test_the_adapter_is_rebuilt_only_when_the_model_changes() -> None:
    registry = MovingChampion()
    holder = ModelHolder(registry, lambda model, info: Predictor(model, info))
    holder.reload()
    provider = HolderScorer(holder)
    assert provider() is provider()
    registry.version = "2"
    holder.reload()
    assert provider().version == "2"


class Capture:
    def __init__(self) -> None:
        self.rows: list[Any] = []

    def submit(self, rows: Any) -> int:
        self.rows.extend(rows)
        return len(self.rows)


def test_prediction_log_rows_carry_the_raw_id_only_for_the_hashing_writer() -> None:
    capture = Capture()
    source = MemorySource(
        [orjson.dumps({"event_id": "e1", "student_id": "S-123", "features": student()})]
    )
    worker = Worker(
        source,
        MemorySink(),
        MemorySink(),
        lambda: PredictorScorer(predictor("7")),
        on_scored=PredictionLogger(capture),
    )
    worker.process(worker.collect(threading.Event()))
    (row,) = capture.rows
    assert row.student_id == "S-123"  # the writer thread pseudonymises it
    assert row.source == "stream" and row.model_version == "7" and row.profile == PROFILE.name
    assert row.risk_band == "low" and row.prediction == "Not dropout"
    assert "S-123" not in orjson.dumps(row.output).decode()  # the output JSON has no id


def test_streaming_needs_a_model(home: object) -> None:
    with pytest.raises(ModelError, match="--profile or --model"):
        open_holder(load_settings())


def test_large_batches_take_the_frame_path_and_score_alike() -> None:
    scorer = PredictorScorer(predictor())
    records = [student(**{GRADE: float(g)}) for g in range(100, 200)]
    assert scorer.score_batch(records) == [scorer.score_batch([r])[0] for r in records]


class RegistryMeta:
    """What registry.store.load_student_model returns next to the model."""

    def __init__(self, uri: str, version: str | None) -> None:
        self.uri = uri
        self.name = "studentops-uci-dropout-binary" if version else None
        self.version = version
        self.run_id = "abcdef0123456789"
        self.metrics = {"roc_auc": 0.9}
        self.profile = PROFILE
        self.aliases: list[str] = []
        self.metric = "roc_auc"
        self.score = 0.9


def test_open_holder_follows_the_champion_or_pins_a_uri(
    home: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded: list[str] = []

    def load(uri: str, settings: Any = None) -> tuple[Any, RegistryMeta]:
        loaded.append(uri)
        version = uri.rsplit("/", 1)[-1] if uri.startswith("models:/") else None
        return GradeModel(), RegistryMeta(uri, version)

    monkeypatch.setattr("studentops.registry.store.load_student_model", load)
    monkeypatch.setattr("studentops.registry.store.champion_version", lambda p, s=None: "4")
    settings = load_settings(reload_interval_s=0)
    champion = open_holder(settings, profile=PROFILE.name)
    assert champion.get().info.version == "4"
    assert loaded == ["models:/studentops-uci-dropout-binary/4"]  # by version, not by alias

    pinned = open_holder(settings, model_uri="runs:/abc/model")
    assert loaded[-1] == "runs:/abc/model"
    assert pinned.get().info.version == "unregistered"
    assert PredictorScorer(pinned.get()).score_batch([student()])[0]["model_version"] == (
        "unregistered"
    )


def test_open_holder_says_why_the_model_did_not_load(
    home: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("studentops.registry.store.champion_version", lambda p, s=None: None)
    with pytest.raises(ModelError, match="no champion"):
        open_holder(load_settings(), profile=PROFILE.name)
