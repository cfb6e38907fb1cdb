"""Where newly labelled rows come from when no file is given: the monitoring store.

A logged prediction holds the features a student was scored with and their pseudonymous key;
an outcome recorded later (``studentops outcomes``) holds the same key. Joined, the latest
prediction of each student with an outcome is a labelled row: the features, the outcome as
the profile's target, and ``labelled_at`` (when the outcome was observed) for the window.
No raw id is ever read: both sides hold only the keyed hash.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from studentops.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

    from studentops.config import Settings
    from studentops.datasets.profile import Profile


def _features(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return dict(json.loads(value))
    return dict(value or {})


def raw_targets(profile: Profile, outcomes: list[str]) -> list[Any]:
    """Outcomes as values the profile's target column accepts.

    Outcomes are stored as the model's classes (``Not dropout``); a profile that maps raw
    values to classes (``Enrolled``, ``Graduate`` -> ``Not dropout``) validates the raw column,
    so each class is written back as the first raw category that maps to it.
    """
    import pandas as pd

    from studentops.datasets.profile import category_key

    column = profile.columns.get(profile.target.column)
    categories = list(getattr(column, "categories", None) or [])
    if not categories:
        return outcomes
    try:
        classes = profile.target_values(pd.DataFrame({profile.target.column: categories}))
    except Exception:  # a target derived from another column: classes are the raw values
        return outcomes
    back: dict[str, Any] = {}
    for raw, cls in zip(categories, list(classes), strict=True):
        back.setdefault(category_key(cls), raw)
    known = {category_key(c) for c in categories}
    return [o if category_key(o) in known else back.get(category_key(o), o) for o in outcomes]


def new_labelled_rows(settings: Settings, profile: str) -> pd.DataFrame:
    """Logged predictions that now have outcomes: features, target and ``labelled_at``.

    Returns:
        One row per student (their latest prediction before the outcome), oldest outcome
        first; the profile's target column holds the outcome text.

    Raises:
        DataError: no prediction of ``profile`` has an outcome yet.
    """
    import pandas as pd

    from studentops.datasets.profile import load_profile
    from studentops.monitoring.predlog import read_predictions
    from studentops.monitoring.store import MonitorStore

    prof = load_profile(profile, settings.profiles_dir)
    settings.ensure_home()  # the default store is a SQLite file there
    with MonitorStore(settings.prediction_log) as store:
        outcomes = store.read_outcomes(prof.name)
    if outcomes.empty:
        raise DataError(
            f"no outcomes recorded for '{prof.name}' yet: record them "
            "(studentops outcomes) or give --data FILE"
        )
    logged = read_predictions(settings.prediction_log)
    logged = logged[(logged["profile"] == prof.name) & logged["student_key"].notna()]
    logged = logged.sort_values("ts", kind="stable").drop_duplicates("student_key", keep="last")
    joined = logged.merge(outcomes, on="student_key", how="inner")
    if joined.empty:
        raise DataError(
            f"outcomes for '{prof.name}' match no logged prediction (keys differ: same "
            "pseudonym_key on both sides?)"
        )
    # Sensitive columns are not features; outcomes carry them for the fairness audit.
    rows = pd.DataFrame(
        [
            {**(g or {}), **_features(v)}
            for v, g in zip(joined["features"], joined["groups"], strict=True)
        ]
    )
    rows[prof.target.column] = raw_targets(prof, joined["outcome"].tolist())
    if prof.id and prof.id not in rows.columns:
        # The log keeps only the keyed hash; training needs an id column, not the student's.
        rows[prof.id] = range(len(rows))
    rows["labelled_at"] = pd.to_datetime(joined["observed_at"], utc=True).to_numpy()
    return rows.sort_values("labelled_at", kind="stable").reset_index(drop=True)
