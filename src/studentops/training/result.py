"""What a search trial and a training run hand back: the contract for tracking, registry and CLI.

Keep these stable: MLflow tracking, the champion/challenger registry and the ``train``/``tune``
commands are built on them. Add fields at the end with defaults; never rename.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from studentops.datasets.profile import Profile
    from studentops.training.model import StudentModel

TRIAL_STATES = ("complete", "pruned", "timeout", "failed")


@dataclass(frozen=True)
class TrialRecord:
    """One trial of the search.

    Attributes:
        number: Optuna trial number (unique within the study).
        algorithm: candidate name, e.g. ``lightgbm`` or ``derived:ridge`` (a regression of the
            derived target's source, binned).
        params: hyperparameters (without the algorithm prefix Optuna stores them with).
        cv_score: mean validation-fold score (the metric's own units; None unless complete).
        duration_s: wall-clock seconds of the trial.
        state: ``complete``, ``pruned`` (hopeless after some folds), ``timeout`` (stopped by
            the budget) or ``failed``.
        best_so_far: best cv_score of the study when this trial ended (for progress bars).
        time_left_s: seconds of search budget left when this trial ended.
    """

    number: int
    algorithm: str
    params: dict[str, Any]
    cv_score: float | None
    duration_s: float
    state: str
    best_so_far: float | None = None
    time_left_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for trials.json and logs (without the progress fields)."""
        return {
            "number": self.number,
            "algorithm": self.algorithm,
            "params": dict(self.params),
            "cv_score": self.cv_score,
            "duration_s": self.duration_s,
            "state": self.state,
        }


@dataclass
class TrainResult:
    """Everything a training run produced.

    Attributes:
        profile: the profile trained for.
        model: the trained :class:`StudentModel` (picklable; takes raw profile columns).
        metric: metric optimised by the search (``f1_macro``, ``roc_auc``, ``r2`` ...).
        cv_score: out-of-fold score of the final model on the training part.
        test_metrics: metric name -> value on the held-out test part (scored once).
        trials: every trial of the search, in the order they ended.
        artifacts_dir: folder with metrics.json, plots, importance.json, fairness.json ...
        fairness: per-sensitive-attribute report (see :mod:`studentops.training.fairness`),
            with ``max_gap`` at the top level.
        data_fingerprint: stable hash of the training rows (order-independent).
        train_rows, test_rows: sizes of the two parts.
        algorithm: the final model's algorithm (``ensemble(a+b)`` for an ensemble).
        best_params: hyperparameters of the final model's main member.
        duration_s: wall-clock seconds of the whole run (search, fit, evaluation, reports).
        split: the kind of held-out split (stratified, random, group, time).
        fit_duration_s: seconds of split + search + final model (what peers get as budget).
        importance: raw feature -> global importance, and how it was computed.
        card_facts: held-out facts for the model card (see
            :func:`studentops.training.heldout.heldout_facts`): class balance, metric
            intervals, calibration, operating point. Counts and rates only, no student rows.
        undefined_reason: why every held-out metric is NaN ("undefined"), e.g. an at-risk
            class absent from the test part (see
            :func:`studentops.training.evaluate.heldout_undefined_reason`); None otherwise.
        final_fit: which model ``model`` is and which one the held-out metrics judge
            (:meth:`studentops.training.final_fit.FinalFit.to_dict`): ``mode`` (all or
            holdout), ``refitted``, ``registered_rows``, ``evaluated_rows``, ``test_rows``,
            ``seconds``, ``note``, ``description``. ``train_rows`` and ``cv_score`` are those
            of the evaluated model.
        phases: wall-clock seconds of each stage (prepare, search, ensemble, evaluate,
            final_fit, importance).
        empty_features: feature columns with no value in any row of the training part, left
            out by the encoder (:func:`studentops.features.encode.empty_columns`); the model
            ignores them when scoring.
    """

    profile: Profile
    model: StudentModel
    metric: str
    cv_score: float
    test_metrics: dict[str, float]
    trials: list[TrialRecord]
    artifacts_dir: Path
    fairness: dict[str, Any]
    data_fingerprint: str
    train_rows: int
    test_rows: int
    algorithm: str
    best_params: dict[str, Any]
    duration_s: float
    split: str
    fit_duration_s: float = 0.0
    importance: dict[str, Any] = field(default_factory=dict)
    card_facts: dict[str, Any] = field(default_factory=dict)
    undefined_reason: str | None = None
    final_fit: dict[str, Any] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    empty_features: list[str] = field(default_factory=list)

    def empty_features_note(self) -> str | None:
        """One sentence naming the features left out as empty in the training part, or None."""
        if not self.empty_features:
            return None
        names = ", ".join(f"'{c}'" for c in self.empty_features)
        one = len(self.empty_features) == 1
        return (
            f"feature{'' if one else 's'} {names} {'is' if one else 'are'} empty in every "
            "training row: left out of the model (scoring ignores "
            f"{'it' if one else 'them'})"
        )

    @property
    def registered_rows(self) -> int:
        """Rows the returned (registered) model was fitted on."""
        return int(self.final_fit.get("registered_rows", self.train_rows))

    def registered_note(self) -> str:
        """One sentence: which model is registered and which one the held-out metrics judge."""
        return str(
            self.final_fit.get("description")
            or f"registered: the evaluated model (fitted on {self.train_rows:,} training rows)"
        )

    @property
    def fairness_max_gap(self) -> float:
        """The number promotion gates compare with ``settings.fairness_max_gap``."""
        return float(self.fairness.get("max_gap", 0.0))

    def summary(self) -> dict[str, Any]:
        """Plain-data view for logs, JSON and MLflow params."""
        return {
            "profile": self.profile.name,
            "metric": self.metric,
            "cv_score": self.cv_score,
            "test_metrics": dict(self.test_metrics),
            "algorithm": self.algorithm,
            "best_params": dict(self.best_params),
            "trials": len(self.trials),
            "train_rows": self.train_rows,
            "test_rows": self.test_rows,
            "split": self.split,
            "data_fingerprint": self.data_fingerprint,
            "duration_s": self.duration_s,
            "fit_duration_s": self.fit_duration_s,
            "fairness_max_gap": self.fairness_max_gap,
            "test_metrics_undefined": self.undefined_reason,
            "final_fit": self.final_fit.get("mode", "holdout"),
            "registered_rows": self.registered_rows,
        }
