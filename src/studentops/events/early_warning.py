"""Early warning by week on OULAD: how good is a prediction made at week W?

For each cut-off week the OULAD log is turned into the ``oulad-pass`` table (one row per
student module presentation, features from events before day 7W), validated against the profile
(zero rejects, or an error), a model is trained and scored on held-out students, and ROC-AUC,
recall at 80 % precision and F1 are reported per week, both for everybody and for the students
still enrolled at the cut-off (the ones a warning can help; those who already withdrew are at
risk by definition and inflate the scores).

Hold-out, two protocols (2014J is held back by the dataset's publishers):

* ``group`` (default): 20 % of *students* held out across 2013B, 2013J and 2014B, with the
  platform's :func:`studentops.training.split.holdout_split` (kind ``group`` on ``student_id``),
  so a student's other modules never leak into training;
* ``presentation``: train on 2013B + 2013J, test on 2014B, as a model deployed on the next run
  of the modules would be. Stricter (module CCC only runs in 2014B).

The model is a seam: ``fit_predict(train, test, profile, time_budget_s) -> risk``. Two are
provided (:data:`MODELS`): ``search``, the platform's training
(:func:`studentops.training.train.train_model`: search, ensemble, threshold), the default; and
``baseline``, one LightGBM with early stopping, kept as the yardstick.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from studentops.datasets.profile import Profile, load_profile
from studentops.errors import DataError
from studentops.events.cleaning import clean_events
from studentops.events.oulad import read_oulad
from studentops.events.weekly import build_weekly_features

PROFILE = "oulad-pass"
TARGET_PRECISION = 0.8
TEST_PRESENTATION = "2014B"

FitPredict = Callable[[pd.DataFrame, pd.DataFrame, Profile, float], np.ndarray]

logger = logging.getLogger(__name__)


def default_oulad_dir() -> Path:
    """``<data_dir>/oulad`` from the settings (``../shared/data/oulad`` by default)."""
    from studentops.config import load_settings

    return Path(load_settings().data_dir) / "oulad"


def oulad_weekly_features(oulad_dir: str | Path | None, weeks: Iterable[int]) -> pl.DataFrame:
    """Read, clean and featurise OULAD for several weeks at once (one pass over the log)."""
    log, students = read_oulad(oulad_dir or default_oulad_dir())
    cleaned = clean_events(log)
    return build_weekly_features(cleaned.log, students, weeks)


def to_profile_frame(features: pl.DataFrame, profile: Profile) -> pd.DataFrame:
    """The columns of ``profile`` from a weekly feature table, as pandas."""
    from studentops.events.current import profile_columns

    frame = profile_columns(features)
    absent = [c for c in profile.columns if c not in frame.columns]
    if absent:
        raise DataError(f"feature table lacks profile column(s) {', '.join(absent)}")
    # Categoricals go to pandas as plain text, the form validation and training expect.
    text = pl.col(pl.Categorical, pl.Enum).cast(pl.String)
    return frame.select(list(profile.columns)).with_columns(text).to_pandas()


def weekly_training_frame(week: int, oulad_dir: str | Path | None = None) -> pd.DataFrame:
    """The ``oulad-pass`` table as of ``week``: what ``studentops train --as-of-week`` uses.

    Raw profile columns, one row per enrolment; ``validate(frame, profile)`` accepts every row,
    and ``train_model(validate(...).valid, profile, split="group", ...)`` trains on it.
    """
    profile = load_profile(PROFILE)
    return to_profile_frame(oulad_weekly_features(oulad_dir, [week]), profile)


def early_warning_frame(
    week: int, oulad_dir: str | Path | None = None
) -> tuple[pd.DataFrame, Profile]:
    """(frame, profile) ready for training at ``week``; split it grouped by ``student_id``."""
    return weekly_training_frame(week, oulad_dir), load_profile(PROFILE)


def validated(frame: pd.DataFrame, profile: Profile) -> pd.DataFrame:
    """``frame`` in profile types (what training expects); any rejected row is an error.

    A reject here means the feature code and the profile disagree (a new feature out of its
    declared range, an unknown category), which must be fixed, not silently dropped.
    """
    from studentops.datasets.validation import validate

    checked = validate(frame, profile)
    if checked.rejected:
        raise DataError(f"weekly frame does not fit profile {profile.name}: {checked.summary()}")
    return checked.valid


# -- the model seam --------------------------------------------------------------------------


def model_matrix(frame: pd.DataFrame, profile: Profile) -> pd.DataFrame:
    """Profile features as LightGBM takes them: numbers as floats, categories with fixed levels."""
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
    nothing from the training part.
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
    """The ``fit_predict`` of a model name (``search`` or ``baseline``)."""
    if name not in MODELS:
        raise DataError(f"unknown model '{name}' (choose from {', '.join(MODELS)})")
    return MODELS[name]


# -- evaluation ------------------------------------------------------------------------------


def recall_at_precision(y: np.ndarray, score: np.ndarray, precision: float) -> float:
    """Highest recall reachable with precision >= ``precision`` (0 if never reached)."""
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
    """Train and test positions for ``group`` (by student) or ``presentation`` (2014B test)."""
    if split == "presentation":
        test = (frame["presentation"].astype(str) == TEST_PRESENTATION).to_numpy()
        return np.flatnonzero(~test), np.flatnonzero(test)
    if split == "group":
        from studentops.training.split import holdout_split

        held = holdout_split(frame, profile, kind="group", test_size=0.2, seed=seed)
        return np.asarray(held.train), np.asarray(held.test)
    raise DataError(f"unknown split '{split}' (group or presentation)")


@dataclass
class WeeklyEvaluation:
    """Metrics per week and protocol; ``table`` is one row per week."""

    table: pd.DataFrame
    split: str
    model: str

    def to_text(self) -> str:
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
        split: ``group`` (students held out) or ``presentation`` (2014B held out).
        fit_predict: the model seam; default the platform's search (see :data:`MODELS`).
        seed: seed of the held-out split.

    Returns:
        A :class:`WeeklyEvaluation`, one row of metrics per week.
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
    """A PNG of ROC-AUC, recall at 80 % precision and F1 against the cut-off week."""
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
