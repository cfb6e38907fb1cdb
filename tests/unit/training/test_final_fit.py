"""The final fit on all rows, a user's test file, and the trial budget's reproducibility."""

from __future__ import annotations

import time

import numpy as np
import pytest

from studentops.training.budget import OutOfTime
from studentops.training.final_fit import final_fit, refit_on_all
from studentops.training.request import TrainRequest
from studentops.training.train import train_model

from .synthetic import make_frame, make_profile

ALGOS = ["logistic_regression", "lightgbm", "derived:ridge"]


def _train(profile, frame, tmp_path, **kw):  # type: ignore[no-untyped-def]
    request = TrainRequest(
        frame=frame,
        profile=profile,
        time_budget_s=None,
        n_trials=4,
        algorithms=kw.pop("algorithms", ALGOS),
        artifacts_dir=tmp_path,
        **kw,
    )
    return train_model(request)


@pytest.fixture(scope="module")
def multiclass():  # type: ignore[no-untyped-def]
    profile = make_profile("multiclass")
    return profile, make_frame(profile, n=400, seed=4)


def test_final_fit_refits_members_on_every_row_and_keeps_the_evaluation(
    multiclass, tmp_path
) -> None:
    profile, frame = multiclass
    kept = _train(profile, frame, tmp_path / "holdout", final_fit="holdout")
    full = _train(profile, frame, tmp_path / "all", final_fit="all")
    # The same search and the same evaluated model: the held-out figures are equal.
    assert full.test_metrics == kept.test_metrics and full.cv_score == kept.cv_score
    assert full.train_rows == kept.train_rows and full.test_rows == kept.test_rows
    # The registered model: one estimator per member, fitted on all rows; rules kept.
    assert kept.final_fit["refitted"] is False and kept.registered_rows == kept.train_rows
    assert full.final_fit["refitted"] is True and full.registered_rows == len(frame)
    assert [m.algorithm for m in full.model.members] == [m.algorithm for m in kept.model.members]
    assert [m.params for m in full.model.members] == [m.params for m in kept.model.members]
    assert full.model.weights == kept.model.weights
    assert full.model.class_weights == kept.model.class_weights
    assert all(len(m.estimators) == 1 for m in full.model.members)
    assert all(len(m.estimators) == 5 for m in kept.model.members)
    a, b = full.model.predict_proba(frame), kept.model.predict_proba(frame)
    np.testing.assert_allclose(a.sum(axis=1), 1.0)
    assert not np.allclose(a, b), "the refitted members differ from the fold models"
    assert "refitted on all 400" in full.registered_note()
    assert "evaluated model" in kept.registered_note()


def test_refit_that_cannot_finish_keeps_the_evaluated_model(multiclass, tmp_path) -> None:
    profile, frame = multiclass
    kept = _train(profile, frame, tmp_path, final_fit="holdout", algorithms=["lightgbm"])
    from studentops.training.search import prepare_search_data

    _, data = prepare_search_data(frame, profile)
    with pytest.raises(OutOfTime):
        refit_on_all(kept.model, frame, data.ctx, deadline=time.perf_counter() - 1)
    model, what = final_fit(
        kept.model,
        frame,
        data.ctx,
        mode="all",
        evaluated_rows=kept.train_rows,
        test_rows=kept.test_rows,
        deadline=time.perf_counter() - 1,
    )
    assert model is kept.model and not what.refitted and "no time left" in (what.note or "")
    # what the user, the card and `models` read: the evaluated model, no raw timing
    from studentops.registry.card_content import registered_model_line
    from studentops.registry.models import final_fit_tags

    said = what.describe()
    assert said.startswith("registered: the evaluated model itself") and "0.0s" not in said
    card = {"final_fit": what.to_dict(), "data": {"train_rows": kept.train_rows}}
    assert registered_model_line(card).startswith("Registered model: the evaluated model itself")
    tags = final_fit_tags(what.to_dict())
    assert tags["studentops.registered_fit"] == f"train part {kept.train_rows:,} rows"


def test_binary_threshold_is_kept_by_the_refit(tmp_path) -> None:
    profile = make_profile("binary")
    frame = make_frame(profile, n=300, seed=2)
    result = _train(profile, frame, tmp_path, algorithms=["logistic_regression", "lightgbm"])
    assert result.final_fit["refitted"]
    assert result.test_metrics["threshold"] == pytest.approx(result.model.threshold)


def test_a_test_file_replaces_the_carved_part(multiclass, tmp_path) -> None:
    profile, frame = multiclass
    kept_apart = make_frame(profile, n=150, seed=11)
    result = _train(profile, frame, tmp_path, test_frame=kept_apart)
    assert result.train_rows == len(frame) and result.test_rows == len(kept_apart)
    assert result.split == "test file" and result.registered_rows == len(frame)


def test_a_trial_budget_repeats_exactly(tmp_path) -> None:
    """Same data, seed and versions: the same trials, model and predictions, to the bit."""
    profile = make_profile("binary")
    frame = make_frame(profile, n=300, seed=5)
    algos = ["logistic_regression", "lightgbm", "random_forest", "hist_gradient_boosting"]
    runs = [_train(profile, frame, tmp_path / str(i), algorithms=algos) for i in range(2)]
    first, second = runs
    assert [(t.algorithm, t.params, t.cv_score) for t in first.trials] == [
        (t.algorithm, t.params, t.cv_score) for t in second.trials
    ]
    assert first.test_metrics == second.test_metrics
    np.testing.assert_array_equal(
        first.model.predict_proba(frame), second.model.predict_proba(frame)
    )
