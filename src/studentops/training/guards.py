"""Checks between validation and the search: refuse data a model cannot learn from, say what
is thin, and leave out columns that carry nothing.

Run on the validated rows before any split or trial, so a degenerate file costs one line and
exit code 2 rather than a search that ends in a traceback or in a test score of 1.0:

* fewer than two classes, or fewer than :data:`MIN_AT_RISK` at-risk rows (one for the held-out
  part and one to learn from): :class:`~studentops.errors.DataError`;
* a class with fewer than :data:`TINY_CLASS` rows: a warning (its held-out metrics are noise,
  and a stratified split may leave it out of the test part entirely);
* a feature empty in every row, or one value in every row: left out of the features (the
  returned profile lists it in ``drop``) with a warning (one for all the empty ones);
* a date feature: used as days since 1970-01-01 (see ``features.encode``), said once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from studentops.datasets.profile import Profile, category_key
from studentops.errors import DataError

MIN_AT_RISK = 2
TINY_CLASS = 5


@dataclass
class GuardResult:
    """The profile to train with (degenerate features dropped) and the warnings to show."""

    profile: Profile
    warnings: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


def check_training_data(frame: pd.DataFrame, profile: Profile) -> GuardResult:
    """Check validated rows before the search.

    Args:
        frame: ``ValidationResult.valid`` (profile types, with the target or its source).
        profile: the dataset profile.

    Returns:
        A GuardResult; its profile equals ``profile`` unless features were left out.

    Raises:
        DataError: one class only, or an at-risk class too small to split and learn from,
            or no usable feature left.
    """
    warnings: list[str] = []
    if profile.task != "regression":
        warnings += _check_classes(frame, profile)
    dropped: list[str] = []
    empty: list[str] = []
    for name in profile.feature_columns:
        values = frame[name] if name in frame.columns else pd.Series(dtype=object)
        present = values.dropna()
        if present.empty:
            dropped.append(name)
            empty.append(name)
        elif len(present) == len(values) and present.astype(str).nunique() == 1:
            dropped.append(name)
            warnings.append(
                f"feature '{name}' holds one value ({category_key(present.iloc[0])!r}) in "
                "every row: left out of the features"
            )
        elif profile.columns[name].type == "datetime":
            warnings.append(f"date feature '{name}' is used as days since 1970-01-01")
    if empty:  # one line for all of them (an export without a click log empties a dozen)
        names = ", ".join(f"'{c}'" for c in empty)
        warnings.insert(
            0,
            f"feature {names} is empty in every row: left out of the features"
            if len(empty) == 1
            else f"features {names} are empty in every row: left out of the features",
        )
    if dropped:
        left = [c for c in profile.feature_columns if c not in dropped]
        if not left:
            raise DataError("no usable feature: every feature is empty or constant")
        profile = profile.model_copy(update={"drop": [*profile.drop, *dropped]})
    return GuardResult(profile, warnings, dropped)


def _check_classes(frame: pd.DataFrame, profile: Profile) -> list[str]:
    target = profile.target_values(frame).dropna()
    counts = target.map(category_key).value_counts()
    column = profile.target.column
    if len(counts) < 2:
        only = counts.index[0] if len(counts) else "none"
        raise DataError(
            f"the target '{column}' has one class ({only}) in all {len(target)} valid rows: "
            "there is nothing to learn; add students with other outcomes"
        )
    risk = [category_key(c) for c in profile.risk_classes()]
    at_risk = int(counts.reindex(risk).fillna(0).sum()) if risk else None
    if at_risk is not None and at_risk < MIN_AT_RISK:
        names = ", ".join(str(c) for c in profile.risk_classes())
        raise DataError(
            f"the at-risk class ({names}) has {at_risk} row(s) of {len(target)}: too few for a "
            f"held-out part and cross-validation folds (need at least {MIN_AT_RISK})"
        )
    warnings = []
    tiny = counts[counts < TINY_CLASS]
    if len(tiny):
        shown = ", ".join(f"{c} ({n} row{'s' if n != 1 else ''})" for c, n in tiny.items())
        warnings.append(
            f"tiny classes in '{column}': {shown}; their held-out metrics are unreliable and "
            "may be undefined (consider merging classes with target.mapping)"
        )
    return warnings
