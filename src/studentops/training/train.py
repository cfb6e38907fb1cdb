"""Train one model for a profile: split, search, ensemble, decide, evaluate, explain, audit.

The order is the order the work happens, and the test part is touched only after the model and
its decision rules are fixed. The request's budget bounds the whole run: most of it goes to the
search, a reserve (:mod:`studentops.training.budget`) to the stages that follow.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from studentops.json_values import to_json_safe
from studentops.training.budget import OVERRUN_S
from studentops.training.evaluate import (
    LABEL_METRICS,
    choose_class_weights,
    choose_threshold,
    evaluate_model,
    fold_score,
    heldout_undefined_reason,
)
from studentops.training.final_fit import final_fit
from studentops.training.model import StudentModel, typical_values
from studentops.training.request import TrainRequest, budget_for, run_request_search
from studentops.training.result import TrainResult
from studentops.training.search import blend, cross_validate, recover_best, select_ensemble
from studentops.training.spaces import base_algorithm, candidate_names

if TYPE_CHECKING:
    import pandas as pd

    from studentops.datasets.profile import Profile
    from studentops.features.encode import ProfileEncoder
    from studentops.training.budget import Budget
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
        reference=typical_values(data.X, list(encoder.categorical_indices_)),
    )
    return model, oof


def train_model(request: TrainRequest) -> TrainResult:
    """Search, build and evaluate a model as ``request`` asks, within its budget.

    The test part (carved out of ``request.frame`` by ``request.split``, or the user's
    ``request.test_frame``) is touched only after the model and its decision rules are fixed.

    Args:
        request: rows, profile, budget and options (:class:`TrainRequest`).

    Returns:
        A :class:`TrainResult`.

    Raises:
        ConfigError: a bad budget, split or metric.
        DataError: the held-out split cannot be made.
    """
    from threadpoolctl import threadpool_limits

    from studentops.training.explain import global_importance
    from studentops.training.fairness import fairness_report
    from studentops.training.heldout import heldout_facts

    budget = budget_for(request, final_fit=request.final_fit == "all")
    start = budget.start
    mark = time.perf_counter()
    _import_reporting()
    phases = {"imports": time.perf_counter() - mark}
    prepared = run_request_search(request, budget)
    data, outcome, train, test = prepared.data, prepared.outcome, prepared.train, prepared.test
    phases |= {"prepare": prepared.phases["prepare"], "search": prepared.phases["search"]}
    mark = time.perf_counter()
    m = data.metric
    with threadpool_limits(limits=1):  # BLAS threads cost 20x on a busy 2-core box (measured)
        candidates = recover_best(outcome, data) or [_fallback(data)]
        model, oof = build_model(
            request.profile, prepared.encoder, data, candidates, target_recall=request.target_recall
        )
    cv_score, class_weights = model.cv_score, model.class_weights
    fit_duration = time.perf_counter() - start
    phases["ensemble"] = time.perf_counter() - mark
    log.info(
        "search: %d trials, model %s, cv %s %.4f (%.1fs)",
        len(outcome.trials),
        model.algorithm,
        m.name,
        cv_score,
        fit_duration,
    )

    out = Path(request.artifacts_dir)
    out.mkdir(parents=True, exist_ok=True)
    seed = request.seed
    with threadpool_limits(limits=1):  # OpenMP threads only contend on a busy 2-core box
        mark = time.perf_counter()
        test_metrics = evaluate_model(model, test, out)
        fairness = fairness_report(model, test, seed=seed)
        card_facts = heldout_facts(model, train, test, seed=seed)
        phases["evaluate"] = time.perf_counter() - mark
        evaluated = model
        model, final = final_fit(
            model,
            request.frame,
            data.ctx,
            mode=request.final_fit,
            evaluated_rows=len(train),
            test_rows=len(test),
            deadline=budget.final_fit_deadline,
        )
        phases["final_fit"] = final.seconds
        mark = time.perf_counter()
        importance = global_importance(
            model, test, max_rows=300, seed=seed, time_budget_s=_importance_seconds(budget)
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
            "split": request.split,
            "phases_s": phases,
            "final_fit": final.to_dict(),
        },
    )
    best = model.estimator_summary()
    return TrainResult(
        profile=request.profile,
        model=model,
        metric=m.name,
        cv_score=float(cv_score),
        test_metrics=test_metrics,
        trials=outcome.trials,
        artifacts_dir=out,
        fairness=fairness,
        data_fingerprint=data_fingerprint(train, request.profile),
        train_rows=len(train),
        test_rows=len(test),
        algorithm=model.algorithm,
        best_params=best["params"],
        duration_s=time.perf_counter() - start,
        split=request.split if request.test_frame is None else "test file",
        fit_duration_s=fit_duration,
        importance=importance,
        card_facts=to_json_safe(card_facts),
        undefined_reason=heldout_undefined_reason(evaluated, test),
        final_fit=final.to_dict(),
        phases=phases,
        empty_features=list(prepared.encoder.empty_columns_),
    )


def _importance_seconds(budget: Budget) -> float | None:
    """Seconds for the importance: what is left of a time budget before logging's reserve;
    None (row cap only, no clock) under a trial budget."""
    left = budget.seconds_before_logging()
    return None if left is None else max(0.5, left - OVERRUN_S)


def _write(path: Path, data: Any) -> None:
    path.write_text(json.dumps(to_json_safe(data), indent=2), encoding="utf-8")
