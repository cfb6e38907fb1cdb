"""The compiled scorer gives the model's own probabilities, for every estimator kind it knows."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.ensemble import (
    ExtraTreesClassifier,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Lasso, LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from studentops.datasets.profile import Profile, load_profile
from studentops.datasets.synthetic import generate_cohort
from studentops.datasets.validation import validate
from studentops.features.encode import CodesOneHot, ProfileEncoder
from studentops.serving.compiled.scorer import TOLERANCE, compile_scorer
from studentops.serving.predictor import ModelInfo, Predictor, sample_records
from studentops.training.model import DerivedBins, Member, StudentModel


def _pipelines(encoder: ProfileEncoder, X: np.ndarray, y: np.ndarray, n_classes: int) -> dict:
    cat = [
        i
        for i, name in enumerate(encoder.feature_names_out)
        if name in encoder.profile.categorical_features
    ]
    sizes = [
        len(encoder.profile.columns[encoder.feature_names_out[i]].categories or []) for i in cat
    ]
    linear = Pipeline(
        [
            ("onehot", CodesOneHot(cat, sizes)),
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("scale", StandardScaler()),
            ("model", LogisticRegression(max_iter=500)),
        ]
    )
    objective = "binary:logistic" if n_classes == 2 else "multi:softprob"
    return {
        "logistic_regression": linear,
        "xgboost": Pipeline(
            [
                (
                    "model",
                    xgb.XGBClassifier(n_estimators=40, max_depth=3, n_jobs=1, objective=objective),
                )
            ]
        ),
        "lightgbm": Pipeline(
            [("model", lgb.LGBMClassifier(n_estimators=40, num_leaves=7, n_jobs=1, verbose=-1))]
        ),
        "logistic_strong_penalty": Pipeline(
            [
                ("onehot", CodesOneHot(cat, sizes)),
                ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                ("scale", StandardScaler()),
                ("model", LogisticRegression(C=0.05, max_iter=500)),
            ]
        ),
        "hist_gb": Pipeline(
            [("model", HistGradientBoostingClassifier(max_iter=20, random_state=0))]
        ),
        "extra_trees": Pipeline([("model", ExtraTreesClassifier(n_estimators=8, random_state=0))]),
        "random_forest": Pipeline(
            [
                ("impute", SimpleImputer(strategy="median")),
                ("model", RandomForestClassifier(n_estimators=10, random_state=0)),
            ]
        ),
    }


NAMES = (
    "logistic_regression",
    "logistic_strong_penalty",
    "xgboost",
    "lightgbm",
    "hist_gb",
    "extra_trees",
    "random_forest",
)


def build_model(profile: Profile, rows: int = 600) -> StudentModel:
    frame = validate(generate_cohort(profile, rows, seed=4), profile).valid
    encoder = ProfileEncoder(profile).fit(frame)
    X = encoder.transform(frame)
    classes = profile.class_order()
    y = np.array([classes.index(v) for v in profile.target_values(frame)])
    members = []
    for name in NAMES:
        folds = []
        for fold in range(2):
            keep = np.arange(len(X)) % 2 != fold
            folds.append(_pipelines(encoder, X, y, len(classes))[name].fit(X[keep], y[keep]))
        members.append(Member(name, {}, folds, "classifier", n_classes=len(classes)))
    return StudentModel(
        profile=profile,
        encoder=encoder,
        members=members,
        weights=[0.25, 0.1, 0.2, 0.15, 0.1, 0.1, 0.1],
        metric="roc_auc",
        cv_score=0.8,
        threshold=0.4,
    )


@pytest.mark.parametrize("profile_name", ["uci-dropout-binary", "uci-dropout"])
def test_compiled_scorer_equals_the_model(profile_name: str) -> None:
    profile = load_profile(profile_name)
    model = build_model(profile)
    predictor = Predictor(model, ModelInfo("m", "1", profile.name))
    assert predictor.fast is not None
    # every member compiled, none fell back to its own predict_proba
    assert predictor.fast.paths == [
        "folded linear, grouped",
        "folded linear, grouped",
        "compiled forest",
        "compiled forest",
        "compiled forest",
        "compiled forest",
        "per fold",  # imputer before the forest: each fold imputes with its own medians
    ]
    X = model.encode_records(sample_records(profile, predictor.features, 200, seed=5))
    expected = model.predict_proba_matrix(X)
    np.testing.assert_allclose(predictor.fast(X), expected, rtol=0, atol=TOLERANCE)
    for i in range(30):
        np.testing.assert_allclose(
            predictor.fast(X[i : i + 1]), expected[i : i + 1], atol=TOLERANCE
        )
    records = sample_records(profile, predictor.features, 5, seed=6)
    answers = predictor.predict_records(records)
    frame = pd.DataFrame.from_records(records, columns=predictor.features)
    assert [a["prediction"] for a in answers] == list(model.predict(frame))


def test_a_model_that_disagrees_is_not_compiled(monkeypatch: pytest.MonkeyPatch) -> None:
    profile = load_profile("uci-dropout-binary")
    model = build_model(profile, rows=300)
    sample = model.encode_records(sample_records(profile, profile.feature_columns, 10))
    original = model.predict_proba_matrix

    def shifted(X: np.ndarray) -> Any:
        return original(X) + 1e-3

    monkeypatch.setattr(model, "predict_proba_matrix", shifted)
    assert compile_scorer(model, sample) is None


def _linear_regressor(encoder: ProfileEncoder, model: Any) -> Pipeline:
    cat = [
        i
        for i, name in enumerate(encoder.feature_names_out)
        if name in encoder.profile.categorical_features
    ]
    sizes = [
        len(encoder.profile.columns[encoder.feature_names_out[i]].categories or []) for i in cat
    ]
    return Pipeline(
        [
            ("onehot", CodesOneHot(cat, sizes)),
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("scale", StandardScaler()),
            ("model", model),
        ]
    )


REGRESSORS: dict[str, Any] = {
    "ridge": lambda enc: _linear_regressor(enc, Ridge(alpha=1.0)),
    "lasso": lambda enc: _linear_regressor(enc, Lasso(alpha=0.01)),
    "xgboost": lambda enc: Pipeline(
        [("model", xgb.XGBRegressor(n_estimators=40, max_depth=3, n_jobs=1))]
    ),
    "lightgbm": lambda enc: Pipeline(
        [("model", lgb.LGBMRegressor(n_estimators=40, num_leaves=7, n_jobs=1, verbose=-1))]
    ),
    "hist_gb": lambda enc: Pipeline(
        [("model", HistGradientBoostingRegressor(max_iter=20, random_state=0))]
    ),
    "random_forest": lambda enc: Pipeline(
        [("model", RandomForestRegressor(n_estimators=8, random_state=0))]
    ),
}


def _regressor_members(
    encoder: ProfileEncoder, X: np.ndarray, y: np.ndarray, kind: str, **extra: Any
) -> list[Member]:
    members = []
    for name, make in REGRESSORS.items():
        folds = []
        for fold in range(2):
            keep = np.arange(len(X)) % 2 != fold
            folds.append(make(encoder).fit(X[keep], y[keep]))
        members.append(Member(name, {}, folds, kind, **extra))  # type: ignore[arg-type]
    return members


def test_regression_models_are_compiled_too() -> None:
    profile = load_profile("exams-math")
    frame = validate(generate_cohort(profile, 600, seed=4), profile).valid
    encoder = ProfileEncoder(profile).fit(frame)
    X = encoder.transform(frame)
    y = frame[profile.target.column].to_numpy(dtype=float)
    members = _regressor_members(encoder, X, y, "regressor")
    model = StudentModel(
        profile=profile,
        encoder=encoder,
        members=members,
        weights=[1 / len(members)] * len(members),
        metric="r2",
        cv_score=0.8,
        sigma=6.0,
    )
    predictor = Predictor(model, ModelInfo("m", "1", profile.name))
    assert predictor.fast is not None
    assert predictor.fast.paths == ["folded linear"] * 2 + ["compiled forest"] * 4
    X_new = model.encode_records(sample_records(profile, predictor.features, 200, seed=5))
    expected = model.predict_value_matrix(X_new)
    np.testing.assert_allclose(predictor.fast(X_new), expected, rtol=TOLERANCE, atol=0)
    for i in range(20):
        np.testing.assert_allclose(
            predictor.fast(X_new[i : i + 1]), expected[i : i + 1], rtol=TOLERANCE
        )


def test_derived_members_are_compiled_too() -> None:
    profile = load_profile("student-performance")
    frame = validate(generate_cohort(profile, 600, seed=4), profile).valid
    encoder = ProfileEncoder(profile).fit(frame)
    X = encoder.transform(frame)
    classes = profile.class_order()
    source = frame[profile.target.derive.source].to_numpy(dtype=float)
    y = np.array([classes.index(v) for v in profile.target_values(frame)])
    bins = DerivedBins.from_profile(profile, classes).with_noise(source, y)
    members = _regressor_members(
        encoder, X, source, "derived", n_classes=len(classes), bins=bins, sigma=0.3
    )
    model = StudentModel(
        profile=profile,
        encoder=encoder,
        members=members,
        weights=[1 / len(members)] * len(members),
        metric="f1_macro",
        cv_score=0.6,
    )
    predictor = Predictor(model, ModelInfo("m", "1", profile.name))
    assert predictor.fast is not None
    assert "model" not in predictor.fast.paths and "per fold" not in predictor.fast.paths
    X_new = model.encode_records(sample_records(profile, predictor.features, 200, seed=5))
    expected = model.predict_proba_matrix(X_new)
    np.testing.assert_allclose(predictor.fast(X_new), expected, rtol=0, atol=TOLERANCE)


def test_edge_rows_skip_sentinel_thresholds_so_linear_members_stay_finite() -> None:
    """Trees mark "all rows one way" with thresholds such as 1e300; set in float32 they become
    inf, a linear member then scores inf and the whole model lost its fast path."""
    from studentops.serving.compiled.forests import edge_rows

    class Sentinels:
        def splits(self) -> tuple[np.ndarray, np.ndarray]:
            return np.array([0, 0, 1, 1]), np.array([2.5, 1e300, np.inf, -1e308])

    sample = np.array([[1.0, 5.0], [3.0, 7.0]])
    rows = edge_rows(sample, [Sentinels()])  # type: ignore[list-item]
    assert np.isfinite(rows).all()
    assert set(np.unique(rows[:, 1])) <= {5.0, 7.0}  # only sentinels there: left as sampled
    assert (np.abs(rows[:, 0] - 2.5) < 1e-5).any()  # the real split is still probed
    weights = np.array([0.7, -0.2])
    assert np.isfinite(rows @ weights).all()
