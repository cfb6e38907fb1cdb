"""Retrain a profile's model and promote the challenger only if it is better *and* fair.

Steps (each a plain function of a part below):

1. the new labelled rows (a file, or the monitoring store's predictions joined with their
   outcomes) are validated, cut to the window and split (:mod:`.data`);
2. a challenger is trained on the original training data (the champion's own training file,
   read from its MLflow run, else the profile's seed file) plus the new training rows, with
   the usual training pipeline, and registered as ``challenger``;
3. the champion and the challenger are scored on the same recent evaluation rows, which
   neither trained on, with the challenger's selection metric, and audited for fairness on them;
4. the registry's own gate function (:func:`registry.models.evaluate_gates`, the gates of
   ``studentops promote``) decides with ``promote_margin`` and ``fairness_max_gap``. The
   challenger must pass the fairness gate (the false-negative-rate gap with its interval) both
   on its own test split (what a manual promotion reads) and on the evaluation rows, so
   retraining is never laxer than a manual promotion;
5. a promotion moves ``@champion`` (a running API picks it up on its next registry poll,
   ``reload_interval_s``, or at once on ``POST /v1/admin/reload``: hot swap, no failed
   request); the decision is recorded (monitoring store, MLflow tags on both versions) and
   announced on the alert channels.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studentops.errors import DataError, ModelError
from studentops.monitoring.retraining.data import TIME_COLUMN, split_new_rows
from studentops.monitoring.retraining.decision import (
    RetrainDecision,
    store_decision,
    tag_versions,
)

if TYPE_CHECKING:
    import pandas as pd

    from studentops.config import Settings
    from studentops.datasets.profile import Profile
    from studentops.monitoring.alerts.channels import Channel
    from studentops.monitoring.alerts.delivery import Delivery
    from studentops.registry.models import Gate
    from studentops.training.pipeline import OnTrial

log = logging.getLogger(__name__)


@dataclass
class RetrainOutcome:
    """The decision, where the challenger's training data was written, and the announcement."""

    decision: RetrainDecision
    train_file: Path
    delivery: Delivery | None


def read_new_rows(profile: Profile, data: str | Path | pd.DataFrame) -> pd.DataFrame:
    """Newly labelled rows: validated (target required), with ``labelled_at`` kept if present.

    Raises:
        DataError: the file cannot be read, or no row is valid.
    """
    from studentops.datasets.loading import read_table
    from studentops.datasets.validation import validate

    raw = data if not isinstance(data, str | Path) else read_table(data)
    raw = raw.reset_index(drop=True)
    result = validate(raw, profile, require_target=True)
    if result.accepted == 0:
        top = ", ".join(f"{r} ({n})" for r, n in result.reasons.most_common(3))
        raise DataError(f"no valid new labelled rows: all {result.total} rejected ({top})")
    if result.rejected:
        log.warning("retraining: %d new labelled rows rejected by validation", result.rejected)
    valid = result.valid.copy()
    if TIME_COLUMN in raw.columns:
        valid[TIME_COLUMN] = raw.loc[valid.index, TIME_COLUMN].to_numpy()
    return valid


def original_data_path(client: Any, champion: Any, profile: Profile, settings: Settings) -> Path:
    """The champion's own training file (its run's ``data`` parameter) if it still exists,
    else the profile's seed file."""
    from studentops.datasets.validation import default_data_path

    if champion is not None and champion.run_id:
        try:
            logged = client.get_run(champion.run_id).data.params.get("data")
        except Exception:  # a deleted run: fall back to the profile's file
            logged = None
        if logged and Path(logged).is_file():
            return Path(logged)
    return default_data_path(profile, settings)


def score_on(model: Any, frame: pd.DataFrame) -> tuple[dict[str, float], dict[str, Any]]:
    """(held-out metrics, fairness audit) of ``model`` on validated labelled rows.

    The audit is :func:`studentops.training.fairness.fairness_report`'s dict; its ``gate``
    entry holds the false-negative-rate gap with its 95% interval that the fairness gate reads.
    """
    from studentops.training.evaluate import evaluate_model
    from studentops.training.fairness import fairness_report

    metrics = evaluate_model(model, frame, None)
    return metrics, fairness_report(model, frame)


def _stricter(split_gate: Gate, recent_gate: Gate) -> Gate:
    """The fairness verdict when a challenger is audited twice: it must pass on its own test
    split (what a manual promotion reads) AND on the recent rows, so retraining is never laxer."""
    from studentops.registry import models

    passed = split_gate.passed and recent_gate.passed
    detail = f"test split: {split_gate.detail}; recent rows: {recent_gate.detail}"
    return models.Gate(split_gate.name, passed, detail)


def retrain(
    settings: Settings,
    profile_name: str,
    new_data: str | Path | pd.DataFrame,
    *,
    trigger: str = "manual (studentops retrain)",
    base_data: str | Path | None = None,
    time_budget_s: float | None = None,
    seed: int | None = None,
    now: datetime | None = None,
    announce: bool = True,
    channels: list[Channel] | None = None,
    on_trial: OnTrial | None = None,
    report_url: str | None = None,
) -> RetrainOutcome:
    """Train a challenger on original plus new labelled data and promote it only through gates.

    Args:
        settings: margin (``promote_margin``), fairness gate (``fairness_max_gap``), window
            (``retrain_window_days``, ``retrain_eval_share``, ``retrain_min_eval_rows``,
            ``retrain_include_original``), budget (``retrain_budget_s``).
        profile_name: the profile whose champion may be replaced.
        new_data: newly labelled rows (file or frame): the profile's columns and target,
            optionally ``labelled_at`` (UTC timestamps) for the window.
        trigger: why this retraining ran (a rule's name and figures, or "manual").
        base_data: the original training data (default: the champion's training file).
        time_budget_s: training budget, seconds (default ``retrain_budget_s``).
        now: end of the window (default: the clock).
        announce: send the decision to the alert channels (in the background).
        report_url: the monitoring report that led here (the check's HTML report), linked
            from the announcement; default ``alert_report_url``.

    Returns:
        A :class:`RetrainOutcome`; the decision is also stored and tagged.

    Raises:
        DataError: no usable new rows, or too few for a meaningful evaluation.
        ProfileError, ModelError: unknown profile; the champion cannot be loaded.
    """
    import pandas as pd

    from studentops.datasets.profile import load_profile
    from studentops.datasets.validation import validate, validate_file
    from studentops.registry import models
    from studentops.registry.store import load_student_model
    from studentops.tracking import client_for
    from studentops.training.evaluate import get_metric
    from studentops.training.pipeline import train_and_register

    started = time.perf_counter()
    now = now or datetime.now(UTC)
    profile = load_profile(profile_name, settings.profiles_dir)
    # The rows first: a bad file fails fast, before the registry is touched.
    rows = split_new_rows(
        read_new_rows(profile, new_data),
        window_days=settings.retrain_window_days,
        eval_share=settings.retrain_eval_share,
        min_eval_rows=settings.retrain_min_eval_rows,
        now=now,
    )
    client = client_for(settings)
    name = models.registered_model_name(profile.name)
    champion = models.version_by_alias(client, name, models.CHAMPION)
    parts = [rows.train_new]
    if settings.retrain_include_original:
        base_path = Path(base_data) if base_data else original_data_path(
            client, champion, profile, settings
        )  # fmt: skip
        parts.insert(0, validate_file(profile, base_path, settings=settings)[1].valid)
    training = pd.concat(parts, ignore_index=True)
    if training.empty:
        raise DataError("no rows to train the challenger on: widen the window or include the "
                        "original data (retrain_include_original)")  # fmt: skip
    stamp = now.strftime("%Y%m%dT%H%M%S")
    folder = settings.ensure_home() / "retraining" / profile.name / stamp
    folder.mkdir(parents=True, exist_ok=True)
    train_file = folder / "train.parquet"
    if profile.id and profile.id in training.columns:
        # The snapshot is kept for audit; it needs unique ids, not the school's raw ones.
        from studentops.monitoring.pseudonym import Pseudonymiser

        training[profile.id] = training[profile.id].map(Pseudonymiser(settings.pseudonym_key))
    training.to_parquet(train_file, index=False)

    outcome = train_and_register(
        profile,
        train_file,
        settings=settings,
        time_budget_s=time_budget_s or settings.retrain_budget_s,
        seed=settings.seed if seed is None else seed,
        on_trial=on_trial,
    )
    challenger = outcome.version
    if challenger is None:  # register=True always registers; a guard for type checkers
        raise ModelError("the challenger was not registered")
    metric = outcome.result.metric
    direction = get_metric(metric, profile.task).greater_is_better

    evaluation = validate(rows.evaluation, profile, require_target=True).valid
    new_model, _ = load_student_model(challenger.uri, settings)
    mine, my_audit = score_on(new_model, evaluation)
    judged_challenger = replace(
        challenger,
        score=mine[metric],
        test_metrics=mine,
        greater_is_better=direction,
        data_fingerprint=None,  # judged on the same rows as the champion
    )
    judged_champion = None
    theirs: dict[str, float] = {}
    if champion is not None:
        old_model, _ = load_student_model(champion.uri, settings)
        theirs, _ = score_on(old_model, evaluation)
        judged_champion = replace(
            champion, metric=metric, score=theirs[metric], test_metrics=theirs,
            data_fingerprint=None,
        )  # fmt: skip
    gates = models.evaluate_gates(
        judged_challenger,
        judged_champion,
        margin=settings.promote_margin,
        max_gap=settings.fairness_max_gap,
    )
    recent = models.fairness_gate_for_report(my_audit, settings.fairness_max_gap)
    gates = [_stricter(g, recent) if g.name == recent.name else g for g in gates]
    passed = all(g.passed for g in gates)
    if passed:
        models.make_champion(client, profile.name, challenger.version, by="retrain")
        reason = f"challenger v{challenger.version} passed every gate and is the new champion" + (
            f" (v{champion.version} kept as previous-champion)" if champion else ""
        )
    else:
        failed = " and ".join(g.name for g in gates if not g.passed)
        kept = f"v{champion.version}" if champion else "no champion"
        reason = (
            f"{failed} gate failed: champion {kept} kept, v{challenger.version} stays challenger"
        )
    decision = RetrainDecision(
        id=uuid.uuid4().hex[:12],
        at=now,
        profile=profile.name,
        trigger=trigger,
        window=rows.window_text(),
        train_rows=len(training),
        eval_rows=len(evaluation),
        metric=metric,
        champion_version=champion.version if champion else None,
        challenger_version=challenger.version,
        champion_score=theirs.get(metric) if champion else None,
        challenger_score=float(mine[metric]),
        gates=[{"name": g.name, "passed": g.passed, "detail": g.detail} for g in gates],
        outcome="promoted" if passed else "kept",
        reason=reason,
        champion_metrics=theirs,
        challenger_metrics=mine,
    )
    store_decision(settings.prediction_log, decision)
    tag_versions(client, name, decision)
    log.info("retraining %s: %s (%.1fs)", profile.name, reason, time.perf_counter() - started)
    delivery = None
    if announce:
        from studentops.monitoring.alerts.engine import announce as send

        delivery = send(
            settings, decision.message(report_url or settings.alert_report_url), channels
        )
    return RetrainOutcome(decision=decision, train_file=train_file, delivery=delivery)
