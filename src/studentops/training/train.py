"""Train one model for a profile: split, search, ensemble, decide, evaluate, explain, audit.

The order is the order the work happens, and the test part is touched only after the model and
its decision rules are fixed. ``time_budget_s`` bounds the whole run: most of it goes to the
search, a small reserve to the evaluation, explanations and fairness audit that follow.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from studentops.errors import ConfigError
from studentops.json_values import to_json_safe
from studentops.training.evaluate import (
    LABEL_METRICS,
    choose_class_weights,
    choose_threshold,
    evaluate_model,
    fold_score,
    get_metric,
    heldout_undefined_reason,
)
from studentops.training.model import StudentModel
from studentops.training.result import TrainResult
from studentops.training.search import (
    OnTrial,
    blend,
    cross_validate,
    prepare_search_data,
    recover_best,
    run_search,
    select_ensemble,
    split_groups,
)
from studentops.training.spaces import base_algorithm, candidate_names

if TYPE_CHECKING:
    import pandas as pd

    from studentops.datasets.profile import Profile
    from studentops.features.encode import ProfileEncoder
    from studentops.training.search import Candidate, SearchData

log = logging.getLogger(__name__)


def data_fingerprint(frame: pd.DataFrame, profile: Profile) -> str:
    """A stable hash of rows: same rows (in any order, any index) give the same hash.

    Only profile columns count, in sorted order, so an extra column or a reordering of the
    file changes nothing; any changed value does.
    """
    import pandas as pd

    columns = sorted(c for c in frame.columns if c in profile.columns)
    canon = frame[columns].astype(object).where(frame[columns].notna(), None).astype(str)
    rows = np.sort(pd.util.hash_pandas_object(canon, index=False).to_numpy())
    digest = hashlib.sha256()
    digest.update(json.dumps([profile.name, columns]).encode())
    digest.update(rows.tobytes())
    return digest.hexdigest()[:32]


def _reserve(budget: float) -> float:
    """Seconds kept after the search for evaluation, explanations and the fairness audit."""
    return min(8.0, max(2.5, 0.1 * budget))


def _import_reporting() -> None:
    """Import what the evaluation needs now, so the deadline (counted from the start) absorbs
    the seconds it costs and the reserve after the search only pays for the work."""
    import matplotlib

    matplotlib.use("Agg")
    import fairlearn.metrics  # noqa: F401
    import matplotlib.pyplot
    import sklearn.calibration  # noqa: F401


def _fallback(data: SearchData) -> Any:
    """The cheapest sound candidate, when the budget ended before any trial finished."""
    name = candidate_names(data.task, False)[0]  # logistic regression or ridge
    return cross_validate(data, name, dict(base_algorithm(name).default), number=-1)


def _reference(X: np.ndarray, categorical: list[int]) -> np.ndarray:
    """Typical value of each column: median of numbers, most frequent code of categories."""
    ref = np.nanmedian(np.where(np.isnan(X).all(axis=0), 0.0, X), axis=0)
    for j in categorical:
        codes = X[:, j][~np.isnan(X[:, j])]
        if len(codes):
            values, counts = np.unique(codes, return_counts=True)
            ref[j] = values[np.argmax(counts)]
    return ref


def build_model(
    profile: Profile,
    encoder: ProfileEncoder,
    data: SearchData,
    candidates: list[Candidate],
    *,
    target_recall: float | None = None,
) -> tuple[StudentModel, np.ndarray]:
    """The final model from searched candidates: ensemble, then decision rules, all chosen on
    out-of-fold predictions of the training part. Returns the model and its out-of-fold output.
    """
    m = data.metric
    ranked = sorted(candidates, key=lambda c: -m.oriented(c.score))
    chosen, weights, cv_score = select_ensemble(ranked, data)
    oof = blend(chosen, weights)
    threshold, class_weights, sigma = None, None, None
    if profile.task == "binary":
        threshold = choose_threshold(data.y, oof[:, 1], target_recall=target_recall)
    elif profile.task == "multiclass":
        w = choose_class_weights(data.y, oof, data.folds, m) if m.name in LABEL_METRICS else None
        class_weights = None if w is None else [float(v) for v in w]
    else:
        sigma = float(np.std(data.y - oof))
    model = StudentModel(
        profile=profile,
        encoder=encoder,
        members=[c.member for c in chosen],
        weights=weights,
        metric=m.name,
        cv_score=cv_score,
        threshold=threshold,
        class_weights=class_weights,
        sigma=sigma,
        reference=_reference(data.X, list(encoder.categorical_indices_)),
    )
    return model, oof


def train_model(
    frame: pd.DataFrame,
    profile: Profile,
    *,
    time_budget_s: float,
    metric: str | None = None,
    seed: int = 42,
    artifacts_dir: str | Path,
    storage: str | None = None,
    study_name: str | None = None,
    smote: bool = False,
    split: str = "stratified",
    on_trial: OnTrial | None = None,
    n_trials: int | None = None,
    n_jobs: int | None = None,
    class_weight: str | None = "auto",
    target_recall: float | None = None,
    algorithms: list[str] | None = None,
) -> TrainResult:
    """Search, build and evaluate a model of ``profile`` within ``time_budget_s`` seconds.

    Args:
        frame: validated rows (``ValidationResult.valid``) with the target (or its source).
        profile: the dataset profile.
        time_budget_s: wall-clock seconds for the whole run.
        metric: metric to optimise; default f1_macro (multiclass), roc_auc (binary), r2.
        seed: seed of the split, the folds, the sampler and the models.
        artifacts_dir: folder for metrics, plots, trials, importance and fairness files.
        storage, study_name: share an Optuna study between processes (see ``run_search``).
        smote: oversample minority classes with SMOTE inside each training fold (instead of
            class weights).
        split: held-out split: stratified, random, group or time.
        on_trial: progress callback, called with each TrialRecord (from a worker thread).
        n_trials: cap on search trials.
        n_jobs: parallel trials (default: up to 2).
        class_weight: ``auto`` (balanced for label metrics such as macro-F1), ``balanced``
            or None.
        target_recall: binary: choose the threshold that finds this share of positives
            (default: the threshold of best F1).
        algorithms: restrict the search to these candidate names.

    Returns:
        A :class:`TrainResult`.
    """
    from threadpoolctl import threadpool_limits

    from studentops.training.explain import global_importance
    from studentops.training.fairness import fairness_report
    from studentops.training.heldout import heldout_facts
    from studentops.training.split import holdout_split

    start = time.perf_counter()
    if time_budget_s <= 0:
        raise ConfigError(f"time budget must be positive, got {time_budget_s}")
    m = get_metric(metric, profile.task)
    _import_reporting()
    holdout = holdout_split(frame, profile, kind=split, seed=seed)
    train, test = frame.iloc[holdout.train], frame.iloc[holdout.test]
    encoder, data = prepare_search_data(
        train,
        profile,
        metric=m.name,
        seed=seed,
        smote=smote,
        class_weight=class_weight,
        groups=split_groups(train, profile, split),
    )
    deadline = start + time_budget_s - _reserve(time_budget_s)
    phases = {"prepare": time.perf_counter() - start}
    outcome = run_search(
        data,
        deadline=deadline,
        seed=seed,
        n_trials=n_trials,
        storage=storage,
        study_name=study_name,
        on_trial=on_trial,
        n_jobs=n_jobs,
        algorithms=algorithms,
    )
    phases["search"] = time.perf_counter() - start - sum(phases.values())
    candidates = recover_best(outcome, data) or [_fallback(data)]
    model, oof = build_model(profile, encoder, data, candidates, target_recall=target_recall)
    cv_score, class_weights = model.cv_score, model.class_weights
    fit_duration = time.perf_counter() - start
    phases["ensemble"] = fit_duration - sum(phases.values())
    log.info(
        "search: %d trials, model %s, cv %s %.4f (%.1fs)",
        len(outcome.trials),
        model.algorithm,
        m.name,
        cv_score,
        fit_duration,
    )

    out = Path(artifacts_dir)
    out.mkdir(parents=True, exist_ok=True)
    with threadpool_limits(limits=1):  # OpenMP threads only contend on a busy 2-core box
        mark = time.perf_counter()
        test_metrics = evaluate_model(model, test, out)
        fairness = fairness_report(model, test, seed=seed)
        card_facts = heldout_facts(model, train, test, seed=seed)
        phases["evaluate"] = time.perf_counter() - mark
        mark = time.perf_counter()
        left = start + time_budget_s - mark
        importance = global_importance(
            model, test, max_rows=300, seed=seed, time_budget_s=max(0.5, left - 0.5)
        )
        phases["importance"] = time.perf_counter() - mark
    log.info("phases (s): %s", {k: round(v, 2) for k, v in phases.items()})
    decision_cv = (
        fold_score(m, data.y, oof * np.asarray(class_weights), data.folds)
        if class_weights is not None
        else cv_score
    )
    _write(out / "importance.json", importance)
    _write(out / "fairness.json", fairness)
    _write(out / "heldout.json", card_facts)
    _write(out / "trials.json", [t.to_dict() for t in outcome.trials])
    _write(
        out / "model.json",
        {
            **model.estimator_summary(),
            "cv_score_with_decision_rule": decision_cv,
            "train_rows": len(train),
            "test_rows": len(test),
            "split": split,
            "phases_s": phases,
        },
    )
    best = model.estimator_summary()
    return TrainResult(
        profile=profile,
        model=model,
        metric=m.name,
        cv_score=float(cv_score),
        test_metrics=test_metrics,
        trials=outcome.trials,
        artifacts_dir=out,
        fairness=fairness,
        data_fingerprint=data_fingerprint(train, profile),
        train_rows=len(train),
        test_rows=len(test),
        algorithm=model.algorithm,
        best_params=best["params"],
        duration_s=time.perf_counter() - start,
        split=split,
        fit_duration_s=fit_duration,
        importance=importance,
        card_facts=to_json_safe(card_facts),
        undefined_reason=heldout_undefined_reason(model, test),
    )


def _write(path: Path, data: Any) -> None:
    path.write_text(json.dumps(to_json_safe(data), indent=2), encoding="utf-8")
