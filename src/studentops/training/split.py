"""Held-out splits and the cross-validation folds inside the training part.

The test part is carved out once, before any search, and is never used to choose anything.
Four kinds: ``stratified`` (classification; keeps the natural class balance; on a regression
target it is the same as ``random``), ``random`` (shuffled), ``group`` (no value of
``profile.group``, e.g. a school, is in both parts) and ``time`` (the latest values of
``profile.period`` are the test part, as when a model trained on past cohorts scores the next).
Stratified and random use scikit-learn's ``train_test_split`` so a split matches other tools
given the same ``random_state``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from studentops.datasets.profile import Profile, category_key
from studentops.errors import DataError, ProfileError

SplitKind = Literal["stratified", "random", "group", "time"]
SPLIT_KINDS: tuple[str, ...] = ("stratified", "random", "group", "time")


@dataclass(frozen=True)
class Holdout:
    """Positions (into the frame given to :func:`holdout_split`) of the two parts."""

    train: np.ndarray
    test: np.ndarray
    kind: str


def holdout_split(
    frame: pd.DataFrame,
    profile: Profile,
    *,
    kind: str = "stratified",
    test_size: float = 0.2,
    seed: int = 42,
) -> Holdout:
    """Split validated rows into a training and a test part.

    Args:
        frame: validated rows (``ValidationResult.valid``) with the target (or its source).
        profile: the dataset profile (target, group and period columns).
        kind: one of ``stratified``, ``random``, ``group``, ``time``.
        test_size: share of rows (for group and time: of rows, rounded to whole groups/periods).
        seed: random state of the shuffle.

    Returns:
        A :class:`Holdout` with row positions of each part.
    """
    from sklearn.model_selection import GroupShuffleSplit, train_test_split

    if kind not in SPLIT_KINDS:
        raise DataError(f"unknown split '{kind}' (choose from {', '.join(SPLIT_KINDS)})")
    if not 0.0 < test_size < 1.0:
        raise DataError(f"test_size must be between 0 and 1, got {test_size}")
    n = len(frame)
    if n < 4:
        raise DataError(f"too few rows to split ({n})")
    positions = np.arange(n)
    if kind == "group":
        groups = _required(frame, profile.group, "group")
        if groups.nunique() < 2:
            raise DataError(f"a group split needs at least 2 values of '{profile.group}'")
        splitter = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
        train, test = next(splitter.split(positions, groups=groups.astype(str).to_numpy()))
        return Holdout(np.sort(train), np.sort(test), kind)
    if kind == "time":
        train, test = _time_split(_required(frame, profile.period, "period"), test_size)
        return Holdout(train, test, kind)
    stratify = None
    if kind == "stratified" and profile.task != "regression":
        # Stratify on class codes in profile.class_order() (binary: negative 0, positive 1):
        # the draw depends on the label coding, and this is the coding other tools are given.
        y = _class_codes(profile.target_values(frame), profile.class_order())
        stratify = y if np.unique(y, return_counts=True)[1].min() >= 2 else None
    train, test = train_test_split(
        positions, test_size=test_size, random_state=seed, shuffle=True, stratify=stratify
    )
    return Holdout(np.asarray(train), np.asarray(test), kind)


def _class_codes(values: pd.Series, classes: list[object]) -> np.ndarray:
    lookup = {category_key(c): i for i, c in enumerate(classes)}
    return np.array([lookup[category_key(v)] for v in values], dtype=int)


def _required(frame: pd.DataFrame, column: str | None, role: str) -> pd.Series:
    if column is None:
        raise ProfileError(f"a {role} split needs '{role}' in the profile")
    if column not in frame.columns or frame[column].isna().all():
        raise DataError(f"a {role} split needs values in column '{column}'")
    values = frame[column]
    if values.isna().any():
        raise DataError(f"{int(values.isna().sum())} row(s) have no '{column}' for a {role} split")
    return values.reset_index(drop=True)


def _time_split(periods: pd.Series, test_size: float) -> tuple[np.ndarray, np.ndarray]:
    """Latest periods go to the test part until it holds at least ``test_size`` of the rows."""
    order = pd.Series(periods.unique()).sort_values(kind="stable").tolist()
    if len(order) < 2:
        raise DataError("a time split needs at least 2 periods")
    counts = periods.value_counts()
    target = test_size * len(periods)
    test_periods: list[object] = []
    taken = 0
    for value in reversed(order[1:]):  # the earliest period always stays in training
        test_periods.append(value)
        taken += int(counts[value])
        if taken >= target:
            break
    is_test = periods.isin(test_periods).to_numpy()
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def cv_folds(
    y: np.ndarray,
    task: str,
    *,
    n_splits: int = 5,
    seed: int = 42,
    groups: np.ndarray | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """K-fold splits of the training part for the search (and out-of-fold predictions).

    Classification folds are stratified; with ``groups`` (group or time split) no group is in
    both sides of a fold. Fewer folds are used when the rarest class (or the number of groups)
    is smaller than ``n_splits``.
    """
    from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

    n = len(y)
    index = np.zeros(n)
    classification = task != "regression"
    if groups is not None:
        k = max(2, min(n_splits, len(np.unique(groups))))
        if classification:
            splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
            return [(a, b) for a, b in splitter.split(index, y, groups)]
        return [(a, b) for a, b in GroupKFold(n_splits=k).split(index, y, groups)]
    if classification:
        smallest = int(np.unique(y, return_counts=True)[1].min()) if n else 0
        k = max(2, min(n_splits, smallest))
        if smallest >= 2:
            splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
            return [(a, b) for a, b in splitter.split(index, y)]
    k = max(2, min(n_splits, n // 2))
    return [(a, b) for a, b in KFold(n_splits=k, shuffle=True, random_state=seed).split(index)]
