"""Compiled forests give each library's own probabilities, missing values included."""

from __future__ import annotations

from typing import Any

import catboost as cb
import lightgbm as lgb
import numpy as np
import pytest
import xgboost as xgb
from sklearn.ensemble import (
    ExtraTreesClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)

from studentops.serving.compiled.forests import tree_kind
from studentops.serving.compiled.protocol import NotCompilable
from studentops.serving.compiled.scorer import TOLERANCE


def data(classes: int, seed: int, rows: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # one decimal, as grades and ages are: XGBoost's split values are then data values, and a
    # threshold read at the wrong precision sends students equal to it the wrong way
    X = rng.normal(size=(rows, 6)).round(1)
    X[:, 5] = rng.integers(0, 4, rows)  # a code-like column with exact zeros
    y = (X[:, 0] + X[:, 1] * X[:, 2] + 0.5 * X[:, 5] + rng.normal(0, 0.5, rows) > 0.5).astype(int)
    if classes == 3:
        y = y + (X[:, 3] > 0.8)
    X[rng.random(X.shape) < 0.08] = np.nan
    return X, y


def scoring_rows(seed: int) -> np.ndarray:
    X, _ = data(2, seed, rows=300)
    X[:5, :] = np.nan  # wholly missing students
    X[5:10, 5] = 0.0  # exact zeros (LightGBM's "Zero" missing type)
    X[10:15, 0] = 1e6  # far outside the training range
    return X


MAKERS: dict[str, Any] = {
    "xgboost": lambda: xgb.XGBClassifier(n_estimators=30, max_depth=4, n_jobs=1),
    "lightgbm": lambda: lgb.LGBMClassifier(n_estimators=30, num_leaves=7, n_jobs=1, verbose=-1),
    "lightgbm_zero": lambda: lgb.LGBMClassifier(
        n_estimators=30, num_leaves=7, n_jobs=1, verbose=-1, zero_as_missing=True
    ),
    "lightgbm_no_nan": lambda: lgb.LGBMClassifier(
        n_estimators=30, num_leaves=7, n_jobs=1, verbose=-1, use_missing=False
    ),
    "random_forest": lambda: RandomForestClassifier(n_estimators=15, random_state=0),
    "extra_trees": lambda: ExtraTreesClassifier(n_estimators=15, random_state=0),
    "hist_gb": lambda: HistGradientBoostingClassifier(max_iter=30, random_state=0),
}


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_compiled_forest_equals_the_library(kind: str, classes: int) -> None:
    folds = []
    for fold in range(3):
        X, y = data(classes, seed=fold)
        folds.append(MAKERS[kind]().fit(X, y))
    compiled = tree_kind(folds)
    X = np.vstack([scoring_rows(seed=9), data(classes, seed=0)[0]])
    probas = compiled.probas(X)
    assert probas.shape == (len(X), 3, classes)
    for f, est in enumerate(folds):
        expected = est.predict_proba(X)
        np.testing.assert_allclose(probas[:, f], expected, rtol=0, atol=TOLERANCE)
        one = np.vstack([compiled.probas(X[i : i + 1])[:, f] for i in range(20)])
        np.testing.assert_allclose(one, expected[:20], rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("use_missing", [True, False])
def test_lightgbm_categorical_splits_equal_the_library(classes: int, use_missing: bool) -> None:
    folds = []
    for fold in range(2):
        X, y = data(classes, seed=fold)
        X[:, 4] = np.random.default_rng(fold).integers(0, 40, len(X))  # many categories
        X[::11, 4] = np.nan
        est = lgb.LGBMClassifier(
            n_estimators=25,
            num_leaves=7,
            min_data_per_group=5,
            cat_smooth=1,
            max_cat_to_onehot=2,
            use_missing=use_missing,
            verbose=-1,
            n_jobs=1,
        )
        folds.append(est.fit(X, y, categorical_feature=[4, 5]))
    dumped = str(folds[0].booster_.dump_model()["tree_info"])
    assert "'decision_type': '=='" in dumped  # the data did make categorical splits
    compiled = tree_kind(folds)
    X = np.vstack([scoring_rows(seed=9), data(classes, seed=0)[0]])
    X[:40, 4] = np.arange(-5, 35)  # negative, known and unseen codes
    X[40:50, 4] = 3.7  # a fraction: truncated, as LightGBM does
    for f, est in enumerate(folds):
        np.testing.assert_allclose(
            compiled.probas(X)[:, f], est.predict_proba(X), rtol=0, atol=TOLERANCE
        )


def test_folds_of_different_libraries_are_not_fused() -> None:
    X, y = data(2, seed=1)
    with pytest.raises(NotCompilable):
        tree_kind([MAKERS["xgboost"]().fit(X, y), MAKERS["lightgbm"]().fit(X, y)])


@pytest.mark.parametrize("classes", [2, 3])
def test_catboost_oblivious_trees_equal_the_library(classes: int) -> None:
    folds = [
        cb.CatBoostClassifier(iterations=30, depth=4, verbose=0, thread_count=1).fit(
            *data(classes, seed=fold)
        )
        for fold in range(2)
    ]
    compiled = tree_kind(folds)
    X = np.vstack([scoring_rows(seed=9), data(classes, seed=0)[0]])
    for f, est in enumerate(folds):
        np.testing.assert_allclose(
            compiled.probas(X)[:, f], est.predict_proba(X), rtol=0, atol=TOLERANCE
        )


def test_catboost_regression_equals_the_library() -> None:
    X, _ = data(2, seed=1)
    y = np.nan_to_num(X[:, 0]) * 10 + 50
    est = cb.CatBoostRegressor(iterations=30, depth=5, verbose=0, thread_count=1).fit(X, y)
    compiled = tree_kind([est])
    X_new = np.vstack([scoring_rows(seed=9), X])
    np.testing.assert_allclose(
        compiled.values(X_new)[:, 0], est.predict(X_new), rtol=TOLERANCE, atol=0
    )
