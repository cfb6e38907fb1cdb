"""The search: budget, determinism, pruning, shared studies, derived target, ensemble, SMOTE."""

from __future__ import annotations

import time

import numpy as np
import pytest

from studentops.training import search as s
from studentops.training.budget import Deadline, OutOfTime, fit_in_chunks
from studentops.training.result import TrialRecord
from studentops.training.spaces import base_algorithm, build_pipeline, warm_starts

FAST = ["logistic_regression", "lightgbm", "derived:ridge"]


@pytest.fixture(scope="module")
def data():
    from .synthetic import make_frame, make_profile

    profile = make_profile("multiclass")
    _, d = s.prepare_search_data(make_frame(profile, n=500, seed=7), profile, seed=0)
    # Library imports take seconds on a busy machine; the budget tests time the search itself.
    s._import_libraries(s.candidate_names(d.task, True), d)
    return d


def _signature(records: list[TrialRecord]) -> list[tuple]:
    return [(r.number, r.algorithm, sorted(r.params.items()), r.state, r.cv_score) for r in records]


def test_search_respects_a_tiny_budget(data) -> None:
    start = time.perf_counter()
    seen: list[TrialRecord] = []
    outcome = s.run_search(data, deadline=start + 4.0, seed=0, on_trial=seen.append)
    elapsed = time.perf_counter() - start
    assert elapsed < 4.0 + 1.0  # a fold in flight may finish; boosting stops between rounds
    assert outcome.candidates, "the warm start gives a model within seconds"
    assert len(seen) == len(outcome.trials)
    assert {r.state for r in seen} <= {"complete", "pruned", "timeout", "failed"}
    assert all(r.time_left_s is not None for r in seen)


def test_same_seed_same_trials(data) -> None:
    """Warm starts, then seeded random start-up trials, then TPE: all repeat exactly."""
    cheap = ["logistic_regression", "derived:ridge", "knn"]
    runs = [
        s.run_search(
            data, deadline=time.perf_counter() + 300, seed=3, n_trials=8, n_jobs=1, algorithms=cheap
        )
        for _ in range(2)
    ]
    assert _signature(runs[0].trials) == _signature(runs[1].trials)
    assert [c.score for c in runs[0].candidates] == [c.score for c in runs[1].candidates]


def test_warm_start_comes_first_and_folds_are_reported(data) -> None:
    outcome = s.run_search(
        data, deadline=time.perf_counter() + 300, seed=0, n_trials=3, n_jobs=1, algorithms=FAST
    )
    assert [t.algorithm for t in outcome.trials] == [n for n, _ in warm_starts(FAST)][:3]
    assert outcome.trials[0].params == base_algorithm("logistic_regression").default
    ran = [t for t in outcome.study.trials if t.state.is_finished()]
    assert len(ran) == 3
    for t in ran:
        assert sorted(t.intermediate_values) == list(range(len(data.folds)))


def test_report_can_stop_a_candidate_between_folds(data) -> None:
    class Stop(Exception):
        pass

    fitted: list[int] = []

    def report(value: float, step: int) -> None:
        fitted.append(step)
        if step == 1:
            raise Stop

    with pytest.raises(Stop):
        s.cross_validate(data, "logistic_regression", {"C": 1.0}, report=report)
    assert fitted == [0, 1]


def test_deadline_stops_boosting_and_refuses_late_trials(data) -> None:
    params = {**base_algorithm("lightgbm").default, "n_estimators": 1000}
    with pytest.raises(OutOfTime):
        s.cross_validate(data, "lightgbm", params, deadline=time.perf_counter() - 1)
    with pytest.raises(OutOfTime):
        s.cross_validate(
            data,
            "logistic_regression",
            {"C": 1.0},
            deadline=time.perf_counter() + 5,
            fold_estimate=60,
        )


@pytest.mark.filterwarnings("ignore:class_weight presets")
def test_forest_grown_in_chunks_equals_one_fit(data) -> None:
    params = {"n_estimators": 60, "max_features": 0.5, "min_samples_leaf": 2}
    a = build_pipeline("random_forest", params, data.ctx)
    b = build_pipeline("random_forest", params, data.ctx)
    a.fit(data.X, data.y)
    fit_in_chunks(
        b,
        b.steps[-1][1],
        "n_estimators",
        data.X,
        data.y,
        {},
        Deadline(time.perf_counter() + 60),
        chunk=25,
    )
    np.testing.assert_array_equal(a.predict_proba(data.X), b.predict_proba(data.X))
    assert b.steps[-1][1].get_params()["warm_start"] is False


def test_derived_target_candidate(data) -> None:
    """Regressing the numeric source and binning it beats classifying the bins directly."""
    derived = s.cross_validate(data, "derived:ridge", {"alpha": 1.0})
    direct = s.cross_validate(data, "logistic_regression", {"C": 1.0})
    assert derived.member.kind == "derived"
    assert derived.score > direct.score
    assert 3.0 < derived.member.sigma < 10.0  # the synthetic noise sd is 6
    np.testing.assert_allclose(derived.oof.sum(axis=1), 1.0)
    # judged on the same folds as every other candidate
    assert derived.score == pytest.approx(
        s.fold_score(data.metric, data.y, derived.oof, data.folds)
    )


def test_no_derived_candidates_without_a_source() -> None:
    from .synthetic import make_frame, make_profile

    profile = make_profile("binary")
    _, d = s.prepare_search_data(make_frame(profile, n=200), profile)
    assert d.source is None
    outcome = s.run_search(d, deadline=time.perf_counter() + 300, n_trials=3, n_jobs=1)
    assert not any(t.algorithm.startswith("derived:") for t in outcome.trials)


def test_ensemble_weights_and_score(data) -> None:
    cands = sorted(
        [
            s.cross_validate(data, n, base_algorithm(n).default, number=i)
            for i, n in enumerate(FAST)
        ],
        key=lambda c: -c.score,
    )
    chosen, weights, score = s.select_ensemble(cands, data)
    assert abs(sum(weights) - 1) < 1e-9 and len(chosen) == len(weights)
    assert score >= cands[0].score - 1e-12
    assert score == pytest.approx(
        s.fold_score(data.metric, data.y, s.blend(chosen, weights), data.folds)
    )
    _, w1, score1 = s.select_ensemble(cands[:1], data)
    assert w1 == [1.0] and score1 == pytest.approx(cands[0].score)


def test_smote_runs_inside_training_folds_only() -> None:
    from .synthetic import make_frame, make_profile

    profile = make_profile("binary")
    frame = make_frame(profile, n=300)
    _, d = s.prepare_search_data(frame, profile, smote=True)
    assert d.ctx.smote and not d.ctx.balanced
    cand = s.cross_validate(d, "lightgbm", base_algorithm("lightgbm").default)
    est = cand.member.estimators[0]
    assert "smote" in est.named_steps
    # SMOTE resamples only when fitting: scoring keeps every row
    assert est.predict_proba(d.X[:7]).shape == (7, 2)
    assert cand.oof.shape == (len(d.y), 2)


def test_shared_study_through_storage(tmp_path, home) -> None:
    """Two ``tune`` workers (the real path: validate, the shared search set-up, the worker
    storage) continue one study."""
    from studentops.config import load_settings
    from studentops.training.pipeline import tune_shared

    from .synthetic import make_frame, make_profile

    profile = make_profile("multiclass")
    data = tmp_path / "rows.csv"
    make_frame(profile, n=300).to_csv(data, index=False)
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    algos = ["logistic_regression", "derived:ridge", "knn"]
    kw = dict(
        settings=load_settings(),
        time_budget_s=120,
        storage=url,
        study_name="shared",
        n_trials=2,
        n_jobs=1,
        algorithms=algos,
    )
    first = tune_shared(profile, data, **kw).trials
    second = tune_shared(profile, data, **kw).trials
    assert [t.number for t in first] == [0, 1]
    assert [t.number for t in second] == [2, 3]  # the same study, continued
    # the warm-start queue was filled once; the second worker took what the first left
    assert [t.algorithm for t in (first + second)[:3]] == [n for n, _ in warm_starts(algos)]
    import optuna

    study = optuna.load_study(study_name="shared", storage=url)
    assert [t.state.is_finished() for t in study.trials] == [True] * 4


def test_a_failed_trial_is_one_log_line_and_its_traceback_goes_to_the_debug_log(
    data, home, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = s.cross_validate

    def flaky(d, name, params, **kwargs):  # type: ignore[no-untyped-def]
        if name == "lightgbm":
            raise ValueError("the solver broke\nwith a second line")
        return real(d, name, params, **kwargs)

    monkeypatch.setattr(s, "cross_validate", flaky)
    with caplog.at_level("WARNING"):
        outcome = s.run_search(
            data, deadline=time.perf_counter() + 6, seed=0, n_trials=6, algorithms=FAST
        )
    failed = [r for r in caplog.records if "failed" in r.getMessage() and "trial" in r.getMessage()]
    assert failed, "the failing algorithm was tried"
    for record in failed:
        assert "\n" not in record.getMessage() and record.exc_info is None
        assert "ValueError: the solver broke (traceback in" in record.getMessage()
    assert outcome.candidates  # the other algorithms still gave a model
    debug = (home / "logs" / "debug.log").read_text(encoding="utf-8")
    assert "Traceback" in debug and "the solver broke" in debug
