"""Explanations: row contributions point the right way for every kind of member."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from studentops.training.explain import (
    RISK_UNITS,
    contributions,
    contributions_in_units,
    explain_rows,
    global_importance,
    member_contributions,
)

from .synthetic import all_members_model, make_frame, make_profile, quick_model

# In the synthetic data the score falls with absences and rises with study time.
WEAK = {"study": 1.0, "absences": 28.0, "support": 0, "track": "arts"}
STRONG = {"study": 29.0, "absences": 0.0, "support": 4, "track": "science"}


def _rows(profile) -> pd.DataFrame:
    frame = make_frame(profile, n=2, seed=1)
    for col, v in WEAK.items():
        frame.loc[frame.index[0], col] = v
    for col, v in STRONG.items():
        frame.loc[frame.index[1], col] = v
    return frame


@pytest.fixture(scope="module")
def multiclass():
    profile = make_profile("multiclass")
    algos = ("logistic_regression", "lightgbm", "derived:ridge", "random_forest", "knn")
    return profile, all_members_model(profile, make_frame(profile, n=400, seed=2), algos)


def test_row_explanations_point_the_right_way(multiclass) -> None:
    profile, model = multiclass
    weak, strong = explain_rows(model, _rows(profile), top_k=2)
    assert weak["units"] == RISK_UNITS and weak["risk"] > strong["risk"]
    assert {"absences", "study"} & {item["feature"] for item in weak["up"]}
    assert {"absences", "study"} & {item["feature"] for item in strong["down"]}
    assert len(weak["up"]) <= 2 and len(strong["down"]) <= 2
    top = weak["up"][0]
    assert set(top) == {"feature", "value", "label", "contribution"} and top["contribution"] > 0
    assert weak["up"] == sorted(weak["up"], key=lambda it: -it["contribution"])
    raw = {it["feature"]: it["value"] for it in weak["up"] + weak["down"]}
    assert raw.get("absences", 28) == 28  # raw values, not codes


@pytest.mark.parametrize("index", range(5))
def test_every_member_kind_explains(multiclass, index: int) -> None:
    profile, model = multiclass
    X = model.encode(_rows(profile))
    phi = member_contributions(model, index, X)
    assert phi.shape == X.shape and np.isfinite(phi).all()
    absences = model.encoder.feature_names_out.index("absences")
    assert phi[0, absences] > phi[1, absences]  # many absences push risk up more


def test_global_importance_ranks_the_real_drivers(multiclass) -> None:
    profile, model = multiclass
    result = global_importance(model, make_frame(profile, n=120, seed=5), max_rows=60)
    ranked = list(result["importance"])
    assert set(ranked[:2]) == {"absences", "study"}
    assert result["rows"] == 60 and "shap" in result["method"]
    assert "occlusion" in result["method"]  # the k-NN member


def test_binary_and_regression_units() -> None:
    for task, algos in (
        ("binary", ("logistic_regression", "xgboost")),
        ("regression", ("ridge", "catboost")),
    ):
        profile = make_profile(task)
        model = quick_model(profile, make_frame(profile, n=300, seed=3), algos)
        weak, strong = explain_rows(model, _rows(profile), top_k=3)
        assert weak["units"] == RISK_UNITS  # the regression profile has an at-risk bar
        assert sum(it["contribution"] for it in weak["up"]) > sum(
            it["contribution"] for it in strong["up"]
        )
        if task == "regression":
            assert weak["prediction"] < strong["prediction"]


def test_explains_after_pickling(multiclass) -> None:
    profile, model = multiclass
    X = model.encode(_rows(profile))
    before = contributions(model, X)
    again = pickle.loads(pickle.dumps(model))
    assert again._cache == {}
    np.testing.assert_allclose(contributions(again, X), before)


def test_contributions_add_up_to_the_change_of_risk() -> None:
    """Logistic member: sum over features = P(row) - P(base), base = sigmoid(intercept)."""
    from .synthetic import all_members_model

    profile = make_profile("binary")
    model = all_members_model(profile, make_frame(profile, n=300, seed=4), ("logistic_regression",))
    X = model.encode(_rows(profile))
    phi = member_contributions(model, 0, X)
    member = model.members[0]
    base = np.mean([1 / (1 + np.exp(-est.steps[-1][1].intercept_[0])) for est in member.estimators])
    risk = member.proba(X)[:, 1]
    np.testing.assert_allclose(phi.sum(axis=1), risk - base, atol=1e-9)
    assert risk[0] > 0.9  # saturated, yet the reasons are not flattened away
    assert phi[0].max() > 0.1


def test_regression_reasons_add_up_to_the_change_of_risk_in_points() -> None:
    profile = make_profile("regression")
    model = quick_model(profile, make_frame(profile, n=300, seed=3), ("ridge",))
    X = model.encode(_rows(profile))
    pp = contributions_in_units(model, X)
    # the base of sign-flipped contributions: prediction + their sum
    base = model.predict_value_matrix(X) + contributions(model, X).sum(axis=1)
    from scipy.special import ndtr

    risk = model.risk_score_matrix(X)
    base_risk = ndtr((50 - base) / model.sigma)
    np.testing.assert_allclose(pp.sum(axis=1), 100 * (risk - base_risk), rtol=1e-6, atol=1e-6)


def test_feature_groups_become_one_reason_with_short_labels() -> None:
    groups = {"effort": ["study", "absences"]}
    profile = make_profile("multiclass", feature_groups=groups)
    model = quick_model(profile, make_frame(profile, n=300, seed=4), ("logistic_regression",))
    plain = quick_model(
        make_profile("multiclass"), make_frame(profile, n=300, seed=4), ("logistic_regression",)
    )
    rows = _rows(profile)
    weak = explain_rows(model, rows, top_k=10)[0]
    alone = explain_rows(plain, rows, top_k=10)[0]
    items = {it["feature"]: it for it in weak["up"] + weak["down"]}
    assert "effort" in items and not {"study", "absences"} & set(items)
    effort = items["effort"]
    assert effort["value"] == {"study": 1, "absences": 28}
    assert effort["label"] == "study 1, absences 28"
    parts = {it["feature"]: it["contribution"] for it in alone["up"] + alone["down"]}
    assert effort["contribution"] == pytest.approx(parts["study"] + parts["absences"])


def test_coded_values_carry_their_labels() -> None:
    columns = {
        **make_profile("multiclass").model_dump()["columns"],
        "support": {
            "type": "category",
            "categories": [0, 1, 2, 3, 4],
            "labels": {0: "none", 1: "low", 2: "moderate", 3: "high", 4: "very high"},
        },
    }
    profile = make_profile("multiclass", columns=columns)
    model = quick_model(profile, make_frame(profile, n=300, seed=4), ("logistic_regression",))
    weak = explain_rows(model, _rows(profile), top_k=10)[0]
    support = next(it for it in weak["up"] + weak["down"] if it["feature"] == "support")
    assert (support["value"], support["label"]) == (0, "none")
