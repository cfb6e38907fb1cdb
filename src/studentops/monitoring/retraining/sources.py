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


def _features(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return dict(json.loads(value))
    return dict(value or {})


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
    rows[prof.target.column] = joined["outcome"].to_numpy()
    rows["labelled_at"] = pd.to_datetime(joined["observed_at"], utc=True).to_numpy()
    return rows.sort_values("labelled_at", kind="stable").reset_index(drop=True)
