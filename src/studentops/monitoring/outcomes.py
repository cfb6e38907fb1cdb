"""Recording true outcomes when they arrive (end of term), keyed like the prediction log.

The file holds one row per student: the id (``student_id`` or the profile's id column), the
target (or the column it is derived from) and, optionally, the profile's sensitive columns
(kept as groups for performance per group). The raw id is hashed with the same keyed hash as
the prediction log before anything is stored; other columns are ignored. Rows without an id or
an outcome are not stored and are counted, with the reason, in the summary (never silently).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studentops.errors import DataError

if TYPE_CHECKING:
    from studentops.config import Settings


@dataclass
class OutcomeSummary:
    """What :func:`record_outcomes` stored: counts and the reasons rows were skipped."""

    profile: str
    stored: int
    skipped: dict[str, int] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)
    observed_at: str = ""


def record_outcomes(
    profile_name: str,
    data: str | Path,
    settings: Settings | None = None,
    observed_at: dt.datetime | None = None,
) -> OutcomeSummary:
    """Read outcomes from a CSV/Parquet file and store them pseudonymised.

    Args:
        profile_name: the dataset profile.
        data: the file.
        observed_at: when the outcomes became known (UTC); default now.

    Raises:
        DataError: no id column, no target column, or no usable row.
    """
    import pandas as pd

    from studentops.config import load_settings
    from studentops.datasets.loading import read_table
    from studentops.datasets.profile import category_key, load_profile
    from studentops.monitoring.pseudonym import Pseudonymiser
    from studentops.monitoring.store import MonitorStore, Outcome

    settings = settings or load_settings()
    settings.ensure_home()  # the default store is a SQLite file there
    profile = load_profile(profile_name, settings.profiles_dir)
    frame = read_table(data)
    id_col = next((c for c in ("student_id", profile.id) if c and c in frame.columns), None)
    if id_col is None:
        wanted = " or ".join(repr(c) for c in ("student_id", profile.id) if c)
        raise DataError(f"{data}: no id column ({wanted}): outcomes are matched by student id")
    target_col = profile.target.column
    source_col = profile.target_source
    if target_col not in frame.columns and not (source_col and source_col in frame.columns):
        raise DataError(f"{data}: no outcome column {target_col!r}")
    skipped: dict[str, int] = {}
    has_id = frame[id_col].notna()
    if (~has_id).any():
        skipped["no id"] = int((~has_id).sum())
    frame = frame[has_id]
    try:
        target = profile.target_values(frame)
    except Exception as exc:  # a value the profile cannot turn into a class
        raise DataError(f"{data}: outcome column: {str(exc).splitlines()[0]}") from exc
    target = pd.Series(target, index=frame.index)
    has_target = target.notna()
    if (~has_target).any():
        skipped["no outcome"] = int((~has_target).sum())
    frame, target = frame[has_target], target[has_target]
    if frame.empty:
        raise DataError(f"{data}: no row has both an id and an outcome")
    when = observed_at or dt.datetime.now(dt.UTC)
    pseudo = Pseudonymiser(settings.pseudonym_key)
    sensitive = [c for c in profile.sensitive if c in frame.columns]
    group_values: list[dict[str, str] | None] = [None] * len(frame)
    if sensitive:
        columns = {c: frame[c].tolist() for c in sensitive}
        group_values = [
            {c: category_key(columns[c][i]) for c in sensitive if not _missing(columns[c][i])}
            for i in range(len(frame))
        ]
    rows = [
        Outcome(str(pseudo(sid)), _outcome_text(value), when, groups)
        for sid, value, groups in zip(
            frame[id_col].tolist(), target.tolist(), group_values, strict=True
        )
    ]
    with MonitorStore(settings.prediction_log) as store:
        stored = store.write_outcomes(profile.name, rows, source=Path(data).name)
    return OutcomeSummary(
        profile=profile.name,
        stored=stored,
        skipped=skipped,
        groups=sensitive,
        observed_at=when.isoformat(),
    )


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _outcome_text(value: Any) -> str:
    from studentops.datasets.profile import category_key

    if isinstance(value, float) and not value.is_integer():
        return repr(value)
    return category_key(value)
