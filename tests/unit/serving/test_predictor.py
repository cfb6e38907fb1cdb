"""The Predictor on its own: validation output, bands, regression without a risk bar."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from studentops.serving.predictor import ModelInfo, Predictor, RecordsInvalid, RiskBands, Scores


def test_validate_returns_profile_values_in_feature_order(
    model: Any, record: dict[str, Any]
) -> None:
    predictor = Predictor(model, ModelInfo("m", "1", "p"))
    sent = dict(record, Course=str(int(record["Course"])))
    records, ids = predictor.validate(sent)
    assert ids == ["s-0001"]
    assert list(records[0]) == predictor.features
    assert records[0]["Course"] == int(record["Course"])  # the profile's own category value
    with pytest.raises(RecordsInvalid) as err:
        predictor.validate([sent, dict(sent, Course="x")])
    assert [(e.row, e.field, e.kind) for e in err.value.errors] == [
        (1, "Course", "unknown category")
    ]


def test_bands() -> None:
    bands = RiskBands(high=0.6, medium=0.3)
    got = bands.bands(np.array([0.0, 0.29, 0.3, 0.59, 0.6, 1.0, np.nan])).tolist()
    assert got == ["low", "low", "medium", "medium", "high", "high", None]
    assert bands.band(0.3) == "medium" and bands.band(float("nan")) is None


def test_answers_without_a_risk_definition(model: Any) -> None:
    predictor = Predictor(model, ModelInfo("m", "1", "p"))
    scores = Scores(np.array(["Dropout"], dtype=object), np.array([np.nan]), np.array([[0.2, 0.8]]))
    answer = predictor.answers(scores, ["a"])[0]
    assert answer["risk_score"] is None and answer["risk_band"] is None


def test_warm_up_scores_a_typical_student(model: Any) -> None:
    predictor = Predictor(model, ModelInfo("m", "1", "p"))
    predictor.warm_up()
    assert predictor.warm_up_ms > 0
