"""Early warning by week on OULAD: how good is a prediction made at week W?

For each cut-off week the OULAD log is turned into the ``oulad-pass`` table (one row per
student module presentation, features from events before day 7W; built by
:mod:`studentops.events.frames`), validated against the profile (zero rejects, or an error), a
model is trained and scored on held-out students, and ROC-AUC, recall at 80 % precision and F1
are reported per week, both for everybody and for the students still enrolled at the cut-off
(the ones a warning can help; those who already withdrew are at risk by definition and inflate
the scores).

Hold-out, two protocols (2014J is held back by the dataset's publishers):

* ``group`` (default): 20 % of *students* held out across the presentations, with the
  platform's :func:`studentops.training.split.holdout_split` (kind ``group`` on ``student_id``),
  so a student's other modules never leak into training;
* ``presentation``: time-forward: train on every earlier presentation, test on the latest one
  in the data (2014B in the shared copy), as a model deployed on the next run of the modules
  would be. Stricter (module CCC only runs in 2014B).

The model is a seam: ``fit_predict(train, test, profile, time_budget_s) -> risk``. Two are
provided (:data:`MODELS`): ``search``, the platform's training
(:func:`studentops.training.train.train_model`: search, ensemble, threshold), the default; and
``baseline``, one LightGBM with early stopping, kept as the yardstick.

It lives in training (it trains models) and imports the frames from events; events never
imports it.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from studentops.datasets.profile import Profile, load_profile
from studentops.errors import DataError
from studentops.events.frames import PROFILE, oulad_weekly_features, to_profile_frame, validated

TARGET_PRECISION = 0.8
"""Precision at which recall is reported (:func:`recall_at_precision`): 4 in 5 flags right."""

FitPredict = Callable[[pd.DataFrame, pd.DataFrame, Profile, float], np.ndarray]
"""``fit_predict(train, test, profile, time_budget_s) -> P(at risk)`` of shape ``(len(test),)``."""

__all__ = [
    "MODELS",
    "PROFILE",
    "EvaluationReport",
    "FitPredict",
    "WeeklyEvaluation",
    "evaluate_by_week",
    "evaluation_report",
    "lightgbm_fit_predict",
    "model_by_name",
    "model_matrix",
    "plot_by_week",
    "recall_at_precision",
    "roc_auc_all_and_active",
    "search_fit_predict",
    "split_rows",
    "time_forward_rows",
]

logger = logging.getLogger(__name__)


# -- the model seam --------------------------------------------------------------------------


def model_matrix(frame: pd.DataFrame, profile: Profile) -> pd.DataFrame:
    """Profile features as LightGBM takes them: numbers as floats, categories with fixed levels.

    Args:
        frame: validated profile columns, ``(n_rows, n_columns)``.
        profile: gives the feature columns and their category levels.

    Returns:
        ``(n_rows, n_features)`` frame on ``frame``'s index; unknown categories become missing.
    """
    out = {}
    for name in profile.feature_columns:
        col = profile.columns[name]
        if col.type == "category":
            levels = [str(c) for c in col.categories or []]
            out[name] = pd.Categorical(frame[name].astype("string"), categories=levels)
        else:
            out[name] = pd.to_numeric(frame[name].astype("float64"), errors="coerce")
    return pd.DataFrame(out, index=frame.index)


def search_fit_predict(
    train: pd.DataFrame, test: pd.DataFrame, profile: Profile, time_budget_s: float
) -> np.ndarray:
    """The platform's model: ``train_model`` within the budget, P(at risk) of each test row.

    The split inside training is grouped by the profile's group column (the student), so its
    own test part and cross-validation folds never share a student either. Training keeps 20 %
    of ``train`` as its own test part; its artifacts (plots, reports) are not kept here.

    Args:
        train: validated profile rows to learn from, ``(n_train, n_columns)``.
        test: validated profile rows to score, ``(n_test, n_columns)``.
        profile: the profile (target, group column).
        time_budget_s: seconds for the whole ``train_model`` run (search, fit, evaluation).

    Returns:
        P(at risk) of each test row, shape ``(n_test,)``, in [0, 1].

    Raises:
        DataError: the trained model gives no risk score (not a binary task).
    """
    from studentops.training.request import TrainRequest
    from studentops.training.train import train_model

    split = "group" if profile.group else "stratified"
    with tempfile.TemporaryDirectory(prefix="early-warning-") as tmp:
        result = train_model(
            TrainRequest(
                frame=train.reset_index(drop=True),
                profile=profile,
                time_budget_s=time_budget_s,
                split=split,
                artifacts_dir=tmp,
            )
        )
    logger.info(
        "train_model: %s, cv %s %.4f, %d trials, %.1fs",
        result.algorithm,
        result.metric,
        result.cv_score,
        len(result.trials),
        result.duration_s,
    )
    risk = result.model.risk_score(test)
    if risk is None:
        raise DataError(f"profile {profile.name}: the model gives no risk score")
    return np.asarray(risk, dtype=float)


def lightgbm_fit_predict(
    train: pd.DataFrame, test: pd.DataFrame, profile: Profile, time_budget_s: float
) -> np.ndarray:
    """Baseline: one LightGBM, early stopping on 15 % of the training students, a time cap.

    Kept as the yardstick the platform's search must beat, and as a fallback that needs
    nothing from the training part. Its settings (learning rate 0.03, 31 leaves, 30 rows per
    leaf, 0.8 row and column sampling, patience 100) are common LightGBM starting values.

    Args:
        train: validated profile rows to learn from, ``(n_train, n_columns)``.
        test: validated profile rows to score, ``(n_test, n_columns)``.
        profile: the profile (target, group column, feature columns).
        time_budget_s: wall-clock cap on boosting, seconds (at least 1).

    Returns:
        P(at risk) of each test row, shape ``(n_test,)``.
    """
    import lightgbm as lgb
    from sklearn.model_selection import GroupShuffleSplit

    y = (profile.target_values(train) == profile.target.positive).astype(int).to_numpy()
    x = model_matrix(train, profile)
    fit_idx, val_idx = next(
        GroupShuffleSplit(n_splits=1, test_size=0.15, random_state=0).split(
            x, y, groups=train[profile.group] if profile.group else None
        )
    )
    deadline = time.monotonic() + max(time_budget_s, 1.0)

    def stop_at_deadline(env: lgb.callback.CallbackEnv) -> None:
        if time.monotonic() > deadline:
            raise lgb.callback.EarlyStopException(env.iteration, env.evaluation_result_list or [])

    model = lgb.LGBMClassifier(
        n_estimators=2000,
        learning_rate=0.03,
        num_leaves=31,
        min_child_samples=30,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        n_jobs=2,
        random_state=0,
        verbose=-1,
    )
    model.fit(
        x.iloc[fit_idx],
        y[fit_idx],
        eval_X=x.iloc[val_idx],
        eval_y=y[val_idx],
        eval_metric="auc",
        callbacks=[lgb.early_stopping(100, verbose=False), stop_at_deadline],
    )
    proba = np.asarray(model.predict_proba(model_matrix(test, profile)))
    return proba[:, 1]


MODELS: dict[str, FitPredict] = {"search": search_fit_predict, "baseline": lightgbm_fit_predict}


def model_by_name(name: str) -> FitPredict:
    """The ``fit_predict`` of a model name (``search`` or ``baseline``).

    Raises:
        DataError: an unknown name.
    """
    if name not in MODELS:
        raise DataError(f"unknown model '{name}' (choose from {', '.join(MODELS)})")
    return MODELS[name]


# -- evaluation ------------------------------------------------------------------------------


def recall_at_precision(y: np.ndarray, score: np.ndarray, precision: float) -> float:
    """Highest recall reachable with precision >= ``precision`` (0 if never reached).

    Args:
        y: true labels, 0/1, shape ``(n,)``.
        score: risk scores, shape ``(n,)`` (higher = more at risk).
        precision: the precision floor, in [0, 1].

    Returns:
        The recall, in [0, 1], from scikit-learn's ``precision_recall_curve``.
    """
    from sklearn.metrics import precision_recall_curve

    p, r, _ = precision_recall_curve(y, score)
    ok = p >= precision
    return float(r[ok].max()) if ok.any() else 0.0


def _scores(y: np.ndarray, risk: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import f1_score, roc_auc_score

    if len(np.unique(y)) < 2:
        return {"roc_auc": np.nan, "recall_at_p80": np.nan, "f1": np.nan}
    return {
        "roc_auc": float(roc_auc_score(y, risk)),
        "recall_at_p80": recall_at_precision(y, risk, TARGET_PRECISION),
        "f1": float(f1_score(y, risk >= 0.5)),
    }


def split_rows(
    frame: pd.DataFrame, profile: Profile, split: str, seed: int = 42
) -> tuple[np.ndarray, np.ndarray]:
    """Train and test positions for ``group`` (by student) or ``presentation`` (time-forward).

    Args:
        frame: profile rows of one week, ``(n_rows, n_columns)``.
        profile: gives the group column for ``group``.
        split: ``group`` (20 % of students held out) or ``presentation`` (the latest
            presentation held out, every earlier one trained on).
        seed: seed of the ``group`` split.

    Returns:
        (train positions, test positions), integer arrays into ``frame``.

    Raises:
        DataError: an unknown split, or ``presentation`` with a single presentation.
    """
    if split == "presentation":
        train, test = time_forward_rows(frame["presentation"].astype(str).to_numpy())
        return train, test
    if split == "group":
        from studentops.training.split import holdout_split

        held = holdout_split(frame, profile, kind="group", test_size=0.2, seed=seed)
        return np.asarray(held.train), np.asarray(held.test)
    raise DataError(f"unknown split '{split}' (group or presentation)")


def time_forward_rows(presentations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of earlier presentations to train on and rows of the latest one to test on.

    Args:
        presentations: the presentation code of each row, shape ``(n_rows,)`` (OULAD codes:
            year then B/J, ordered by :func:`studentops.events.cohort.presentation_order`).

    Returns:
        (train positions, test positions), integer arrays; every train row's presentation is
        earlier than the test one, never a random split.

    Raises:
        DataError: fewer than two presentations.
    """
    from studentops.events.cohort import presentation_order

    codes = sorted(set(presentations.tolist()), key=presentation_order)
    if len(codes) < 2:
        raise DataError("a time-forward split needs at least two presentations")
    test = presentations == codes[-1]
    return np.flatnonzero(~test), np.flatnonzero(test)


def roc_auc_all_and_active(
    y: np.ndarray, risk: np.ndarray, withdrawn: np.ndarray
) -> tuple[float, float]:
    """ROC-AUC for every student and for those still enrolled at the cut-off.

    Args:
        y: 1 = at risk, shape ``(n,)``.
        risk: scores, shape ``(n,)``.
        withdrawn: True where the student had withdrawn before the cut-off, shape ``(n,)``.

    Returns:
        (ROC-AUC of all, ROC-AUC of the still enrolled); NaN where one class is absent.
    """
    from sklearn.metrics import roc_auc_score

    def auc(mask: np.ndarray) -> float:
        yy = y[mask]
        return float(roc_auc_score(yy, risk[mask])) if len(np.unique(yy)) == 2 else float("nan")

    every = np.ones(len(y), dtype=bool)
    return auc(every), auc(~withdrawn.astype(bool))


@dataclass
class WeeklyEvaluation:
    """Metrics per week and protocol; ``table`` is one row per week."""

    table: pd.DataFrame
    split: str
    model: str

    def to_text(self) -> str:
        """The table as aligned text, three decimals."""
        return self.table.to_string(index=False, float_format=lambda v: f"{v:.3f}")


def evaluate_by_week(
    weeks: Sequence[int],
    time_budget_per_week: float = 20.0,
    *,
    oulad_dir: str | Path | None = None,
    split: str = "group",
    fit_predict: FitPredict = search_fit_predict,
    seed: int = 42,
) -> WeeklyEvaluation:
    """Train and score one model per cut-off week; the same held-out students every week.

    Args:
        weeks: cut-off weeks.
        time_budget_per_week: seconds of training per week (``train_model``'s whole run).
        oulad_dir: the OULAD folder (default: ``<data_dir>/oulad``).
        split: ``group`` (students held out) or ``presentation`` (latest presentation held
            out, earlier ones trained on).
        fit_predict: the model seam; default the platform's search (see :data:`MODELS`).
        seed: seed of the held-out split.

    Returns:
        A :class:`WeeklyEvaluation`, one row of metrics per week (ROC-AUC, recall at precision
        0.8, F1 at 0.5, each also for the students still enrolled; ``fit_s`` in seconds).

    Raises:
        DataError: a frame does not fit the profile, an unknown split, or as the model seam.
    """
    profile = load_profile(PROFILE)
    features = oulad_weekly_features(oulad_dir, weeks)
    rows = []
    train_idx = test_idx = None
    for week in sorted(set(weeks)):
        frame = validated(
            to_profile_frame(features.filter(pl.col("week") == week), profile), profile
        )
        if train_idx is None:
            train_idx, test_idx = split_rows(frame, profile, split, seed)
        train, test = frame.iloc[train_idx], frame.iloc[test_idx]
        started = time.monotonic()
        risk = fit_predict(train, test, profile, time_budget_per_week)
        y = (profile.target_values(test) == profile.target.positive).astype(int).to_numpy()
        active = ~test["withdrawn"].astype(bool).to_numpy()
        every = _scores(y, risk)
        still = _scores(y[active], risk[active])
        rows.append(
            {
                "week": week,
                "n_test": len(test),
                "at_risk_rate": float(y.mean()),
                **every,
                "n_active": int(active.sum()),
                **{f"{k}_active": v for k, v in still.items()},
                "fit_s": time.monotonic() - started,
            }
        )
    names = [name for name, fn in MODELS.items() if fn is fit_predict]
    name = names[0] if names else getattr(fit_predict, "__name__", "custom")
    return WeeklyEvaluation(pd.DataFrame(rows), split, name)


def plot_by_week(result: WeeklyEvaluation, path: str | Path) -> Path:
    """A PNG of ROC-AUC, recall at 80 % precision and F1 against the cut-off week.

    Returns:
        ``path`` (its folder is created), 960 x 540 pixels.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = result.table
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for col, label in (
        ("roc_auc", "ROC-AUC"),
        ("recall_at_p80", "recall @ precision 0.8"),
        ("f1", "F1 (threshold 0.5)"),
    ):
        (line,) = ax.plot(t["week"], t[col], marker="o", label=label)
        ax.plot(
            t["week"],
            t[f"{col}_active"],
            linestyle="--",
            color=line.get_color(),
            label=f"{label}, still enrolled",
        )
    ax.set_xlabel("cut-off week (features from days < 7 x week)")
    ax.set_ylabel("score on held-out students")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.set_title(f"OULAD early warning by week ({result.split} split, {result.model})")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


@dataclass
class EvaluationReport:
    """What :func:`evaluation_report` wrote: the evaluation, its CSV table and PNG plot."""

    evaluation: WeeklyEvaluation
    table_path: Path
    plot_path: Path


def evaluation_report(
    weeks: Sequence[int],
    time_budget_per_week: float,
    *,
    profile: str = PROFILE,
    oulad_dir: str | Path | None = None,
    split: str = "group",
    model: str = "search",
    out: str | Path | None = None,
) -> EvaluationReport:
    """Run :func:`evaluate_by_week` and write ``by-week-<split>-<model>.csv`` and ``.png``.

    Args:
        weeks: cut-off weeks.
        time_budget_per_week: seconds of training per week.
        profile: must be ``oulad-pass`` (the only event-log profile).
        oulad_dir: the OULAD folder (default: ``<data_dir>/oulad``).
        split: ``group`` or ``presentation`` (see :func:`split_rows`).
        model: a name of :data:`MODELS`.
        out: folder of the reports (default ``<home>/reports/early-warning``, never the
            current folder).

    Returns:
        An :class:`EvaluationReport`.

    Raises:
        DataError: another profile, an unknown model or split, or as :func:`evaluate_by_week`.
    """
    if profile != PROFILE:
        raise DataError(f"evaluate by week supports the '{PROFILE}' profile, not '{profile}'")
    fit_predict = model_by_name(model)
    if out is None:
        from studentops.config import load_settings

        out = load_settings().ensure_home() / "reports" / "early-warning"
    folder = Path(out)
    result = evaluate_by_week(
        weeks, time_budget_per_week, oulad_dir=oulad_dir, split=split, fit_predict=fit_predict
    )
    folder.mkdir(parents=True, exist_ok=True)
    table_path = folder / f"by-week-{split}-{model}.csv"
    result.table.to_csv(table_path, index=False)
    plot_path = plot_by_week(result, folder / f"by-week-{split}-{model}.png")
    return EvaluationReport(result, table_path, plot_path)
