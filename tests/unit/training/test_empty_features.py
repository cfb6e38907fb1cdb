"""A feature empty in every training row: left out by the encoder, so every algorithm fits
(HistGradientBoosting fails on an all-NaN column) and scoring ignores it, with or without values,
on the model's own path and on the compiled scorer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from studentops.datasets.profile import Profile
from studentops.datasets.validation import validate
from studentops.serving.compiled.scorer import TOLERANCE
from studentops.serving.predictor import ModelInfo, Predictor
from studentops.training.model import StudentModel
from studentops.training.search import cross_validate, prepare_search_data
from studentops.training.spaces import base_algorithm

from .synthetic import COLUMNS, make_profile, make_raw

CLICKS = {"type": "number", "min": 0, "nullable": True}


@pytest.fixture(scope="module")
def profile() -> Profile:
    return make_profile("binary", columns={**COLUMNS, "clicks": CLICKS})


@pytest.fixture(scope="module")
def frame(profile: Profile) -> pd.DataFrame:
    raw = make_raw(160, seed=3)
    raw["clicks"] = np.nan  # an export without the click log
    result = validate(raw, profile)
    assert result.rejected == 0 and result.valid["clicks"].isna().all()
    return result.valid


@pytest.fixture(scope="module")
def model(profile: Profile, frame: pd.DataFrame) -> StudentModel:
    encoder, data = prepare_search_data(frame, profile, seed=0)
    members = [
        cross_validate(data, name, base_algorithm(name).default).member
        for name in ("hist_gradient_boosting", "logistic_regression")
    ]
    return StudentModel(
        profile=profile,
        encoder=encoder,
        members=members,
        weights=[0.6, 0.4],
        metric=data.metric.name,
        cv_score=0.0,
        threshold=0.5,
    )


def test_hist_gradient_boosting_fits_when_a_feature_is_empty(model: StudentModel) -> None:
    assert model.encoder.empty_columns_ == ["clicks"]
    assert "clicks" not in model.encoder.feature_names_out
    hgb = model.members[0]
    assert hgb.algorithm == "hist_gradient_boosting" and len(hgb.estimators) == 5


def test_scoring_ignores_the_empty_feature_with_or_without_values(
    model: StudentModel, frame: pd.DataFrame
) -> None:
    rows = frame.head(40)
    expected = model.predict_proba(rows)
    with_values = rows.assign(clicks=np.arange(len(rows), dtype=float) * 7)
    np.testing.assert_array_equal(model.predict_proba(with_values), expected)
    np.testing.assert_array_equal(model.predict_proba(rows.drop(columns="clicks")), expected)
    records = with_values.to_dict(orient="records")
    np.testing.assert_array_equal(model.encode_records(records), model.encode(rows))


def test_compiled_scorer_agrees_when_the_empty_feature_arrives(
    model: StudentModel, frame: pd.DataFrame
) -> None:
    predictor = Predictor(model, ModelInfo("m", "1", model.profile.name))
    assert predictor.fast is not None
    rows = frame.head(30).assign(clicks=5.0)
    X = model.encode_records(rows.to_dict(orient="records"))
    np.testing.assert_allclose(
        predictor.fast(X), model.predict_proba_matrix(X), rtol=0, atol=TOLERANCE
    )
    answers = predictor.predict_records(
        [{c: r[c] for c in predictor.features} for r in rows.to_dict(orient="records")]
    )
    assert [a["prediction"] for a in answers] == list(model.predict(rows))


def test_features_empty_in_every_row_are_named_in_one_warning(
    profile: Profile, frame: pd.DataFrame
) -> None:
    from studentops.training.guards import check_training_data

    guarded = check_training_data(frame.assign(study=np.nan), profile)
    assert guarded.dropped == ["study", "clicks"]
    empty = [w for w in guarded.warnings if "empty in every row" in w]
    assert empty == ["features 'study', 'clicks' are empty in every row: left out of the features"]
