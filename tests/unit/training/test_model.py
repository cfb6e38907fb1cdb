"""StudentModel: shapes, class order, decision rules, risk scores, serving path, pickling."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from studentops.training.model import DerivedBins, StudentModel

from .synthetic import make_frame, make_profile, quick_model


@pytest.fixture(scope="module")
def models() -> dict[str, tuple[StudentModel, object]]:
    out = {}
    for task, algos in (
        ("multiclass", ("logistic_regression", "lightgbm", "derived:ridge")),
        ("binary", ("logistic_regression", "lightgbm")),
        ("regression", ("ridge", "lightgbm")),
    ):
        profile = make_profile(task)
        out[task] = (
            quick_model(profile, make_frame(profile, n=500, seed=3), algos),
            make_frame(profile, n=120, seed=4),
        )
    return out


@pytest.mark.parametrize("task", ["multiclass", "binary"])
def test_predict_proba_shape_and_sum(models, task) -> None:
    model, test = models[task]
    proba = model.predict_proba(test)
    assert proba.shape == (len(test), len(model.classes_))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    assert ((proba >= 0) & (proba <= 1)).all()


def test_binary_classes_are_negative_then_positive(models) -> None:
    model, test = models["binary"]
    assert model.classes_ == ["pass", "F"]
    proba = model.predict_proba(test)
    flagged = model.predict(test) == "F"
    np.testing.assert_array_equal(flagged, proba[:, 1] >= model.threshold)
    np.testing.assert_allclose(model.risk_score(test), proba[:, 1])


def test_multiclass_risk_is_at_risk_probability(models) -> None:
    model, test = models["multiclass"]
    assert model.classes_ == ["A", "B", "C", "F"]
    assert model.risk_indices() == [3]
    np.testing.assert_allclose(model.risk_score(test), model.predict_proba(test)[:, 3])
    assert set(model.predict(test)) <= set(model.classes_)


def test_worst_class_when_profile_names_no_risk() -> None:
    profile = make_profile("multiclass")
    no_risk = profile.model_copy(
        update={"target": profile.target.model_copy(update={"at_risk": None})}
    )
    model = StudentModel(no_risk, None, [], [], metric="f1_macro", cv_score=0.0)  # type: ignore[arg-type]
    assert model.risk_indices() == [model.classes_.index("F")]  # lowest bin of the source


def test_regression_value_and_risk(models) -> None:
    model, test = models["regression"]
    value = model.predict_value(test)
    assert value.shape == (len(test),)
    np.testing.assert_array_equal(model.predict(test), value)
    risk = model.risk_score(test)
    assert ((risk >= 0) & (risk <= 1)).all()
    order = np.argsort(value)
    assert risk[order[0]] > 0.5 > risk[order[-1]]  # lower predicted score, higher risk
    with pytest.raises(TypeError):
        model.predict_proba(test)


@pytest.mark.parametrize("task", ["multiclass", "binary", "regression"])
def test_records_path_equals_dataframe_path(models, task) -> None:
    model, test = models[task]
    records = test.to_dict(orient="records")
    X = model.encode_records(records)
    if task == "regression":
        np.testing.assert_allclose(
            model.predict_value_matrix(X), model.predict_value(test), atol=1e-9
        )
    else:
        np.testing.assert_allclose(
            model.predict_proba_matrix(X), model.predict_proba(test), atol=1e-9
        )
    np.testing.assert_allclose(model.risk_score_matrix(X), model.risk_score(test), atol=1e-9)


def test_extra_columns_are_ignored(models) -> None:
    model, test = models["multiclass"]
    noisy = test.assign(unrelated=np.arange(len(test)), sid=-1)[
        [*test.columns[::-1].tolist(), "unrelated"]
    ]
    np.testing.assert_allclose(model.predict_proba(noisy), model.predict_proba(test))


def test_pickle_round_trip(models) -> None:
    model, test = models["multiclass"]
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(again.predict_proba(test), model.predict_proba(test))
    assert again.profile == model.profile


def test_estimator_summary(models) -> None:
    model, _ = models["multiclass"]
    summary = model.estimator_summary()
    assert summary["algorithm"] == model.algorithm
    assert abs(sum(m["weight"] for m in summary["members"]) - 1) < 1e-9
    assert all(m["folds"] == 5 for m in summary["members"])


def test_derived_bins_probabilities() -> None:
    profile = make_profile("multiclass")
    bins = DerivedBins.from_profile(profile, profile.class_order())
    p = bins.proba(np.array([30.0, 70.0, 95.0]), sigma=2.0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert [profile.class_order()[i] for i in p.argmax(axis=1)] == ["F", "B", "A"]
    # at an edge the two neighbouring classes share the mass
    edge = bins.proba(np.array([65.0]), sigma=5.0)[0]
    assert edge[1] == pytest.approx(edge[2], abs=1e-9) and edge[1] < 0.5
    noisy = bins.with_noise(np.array([30.0, 30.0, 70.0]), np.array([3, 0, 1]))
    assert noisy.noise is not None and np.allclose(noisy.noise.sum(axis=1), 1.0)
    assert noisy.proba(np.array([30.0]), 1.0)[0, 0] > bins.proba(np.array([30.0]), 1.0)[0, 0]
