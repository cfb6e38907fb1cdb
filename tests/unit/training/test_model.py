"""StudentModel: shapes, class order, decision rules, risk scores, serving path, pickling."""

from __future__ import annotations

import pickle
from typing import Any

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


def _gpa_bins() -> DerivedBins:
    return DerivedBins(np.array([2.0, 2.5, 3.0, 3.5]), np.array([4, 3, 2, 1, 0]), 5)


def _records(rng: np.random.Generator, n: int, scale: float, swap: float) -> tuple[Any, Any]:
    """GPA and recorded classes: bins of GPA + Cauchy(scale), then a share ``swap`` of rows
    given a uniformly drawn other class (the two kinds of label noise)."""
    gpa = rng.uniform(0.0, 4.0, n)
    bins = _gpa_bins()
    y = bins.implied(gpa + scale * rng.standard_cauchy(n))
    pick = rng.random(n) < swap
    y[pick] = (y[pick] + rng.integers(1, 5, pick.sum())) % 5
    return gpa, y


def test_label_noise_that_grows_near_the_edge_is_found_and_lets_the_risk_rank() -> None:
    rng = np.random.default_rng(0)
    gpa, y = _records(rng, 20_000, scale=0.02, swap=0.03)
    fitted = _gpa_bins().with_noise(gpa, y)
    assert 0.01 < fitted.scale < 0.04 and 0.0 < fitted.mix < 1.0  # true scale 0.02
    far = np.linspace(0.2, 1.6, 15)  # far below the D/C edge at 2.5
    risk = fitted.proba(far, sigma=0.25)[:, [3, 4]].sum(axis=1)
    assert (np.diff(risk) < -1e-6).all()  # lower GPA, strictly higher risk: no ceiling
    counts = _gpa_bins().with_noise(gpa, y, boundary=False)
    flat = counts.proba(far, sigma=0.25)[:, [3, 4]].sum(axis=1)
    assert np.ptp(flat[:5]) < 1e-9  # the class-conditional noise alone: one ceiling
    # the better fit: held-out log likelihood
    gpa2, y2 = _records(rng, 20_000, scale=0.02, swap=0.03)
    rows = np.arange(len(y2))
    assert (
        np.log(fitted.proba(gpa2, 0.0)[rows, y2]).mean()
        > np.log(counts.proba(gpa2, 0.0)[rows, y2]).mean()
    )


def test_uniform_label_noise_keeps_the_class_conditional_model() -> None:
    gpa, y = _records(np.random.default_rng(1), 20_000, scale=0.0, swap=0.07)
    fitted = _gpa_bins().with_noise(gpa, y)
    counts = _gpa_bins().with_noise(gpa, y, boundary=False)
    x = np.linspace(0.0, 4.0, 50)
    np.testing.assert_allclose(fitted.proba(x, 0.2), counts.proba(x, 0.2), atol=0.01)


def test_boundary_noise_cdf_matches_quadrature_and_survives_pickle() -> None:
    from scipy.integrate import quad
    from scipy.special import ndtr

    bins = _gpa_bins()
    bins.scale = 0.02
    for sigma in (0.25, 0.01):
        xs = np.array([-3.0, -0.3, -0.01, 0.0, 0.004, 0.2, 1.0, 50.0])
        got = bins._noise_cdf(xs, sigma)
        want = [
            0.5
            + np.arctan(x / 0.02) / np.pi
            + quad(
                lambda u, x=x, s=sigma: (
                    (ndtr((x - u) / s) - (u < x)) * 0.02 / np.pi / (u * u + 4e-4)
                ),
                x - 14 * sigma,
                x + 14 * sigma,
                points=[x],
                limit=500,
            )[0]
            for x in xs
        ]
        np.testing.assert_allclose(got, want, atol=2e-6)
    again = pickle.loads(pickle.dumps(bins))
    assert "_voigt_tables" not in again.__dict__ and again.scale == 0.02
    old = pickle.loads(pickle.dumps(_gpa_bins()))
    del old.__dict__["scale"], old.__dict__["mix"]  # pickled before the boundary noise
    np.testing.assert_allclose(old.proba(np.array([1.0]), 0.2), _gpa_bins().proba([1.0], 0.2))
