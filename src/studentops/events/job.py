"""Weekly features for the current week, as one call: what the scheduled ``events-features`` runs.

The same steps as ``studentops events features`` (read, clean, build) for the cut-off week a
scheduler cares about: the last complete week of the term. Week ``w`` uses events with
``day < 7w`` (``docs/events.md``), so on day ``d`` of the term (``d`` days after its start) the
complete weeks are ``d // 7``.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studentops.errors import DataError


@dataclass
class FeaturesJob:
    """What a features run produced: the file, its shape, the weeks and the cleaning figures.

    ``rows`` x ``columns`` is the written table's shape; ``seconds`` the wall time of the run;
    ``report`` the cleaning summary (counts per rule) and ``report_text`` the same as text.
    """

    out_path: Path
    rows: int
    columns: int
    weeks: list[int]
    seconds: float
    report: dict[str, Any] = field(default_factory=dict)
    report_text: str = ""


def current_week(term_start: dt.date, today: dt.date | None = None) -> int:
    """The last complete cut-off week on ``today`` (0 before and during the first week).

    Args:
        term_start: day 0 of the presentation.
        today: the date (default: today in UTC).

    Returns:
        ``max(0, days since term_start // 7)``, in weeks.
    """
    today = today or dt.datetime.now(dt.UTC).date()
    return max(0, (today - term_start).days // 7)


def weekly_features_job(
    out: str | Path,
    *,
    weeks: list[int],
    oulad: str | Path | None = None,
    events: str | Path | None = None,
    mapping: str | Path | None = None,
    report: str | Path | None = None,
) -> FeaturesJob:
    """Read an OULAD folder or an LMS export (with its mapping), clean it, write weekly features.

    The features are :func:`studentops.events.frames.build_features` (weekly, cohort and base
    rates); from an OULAD folder they also get the ``oulad-pass`` key columns
    (:func:`studentops.events.frames.profile_columns`), so the file is scorable with that
    profile.

    Args:
        out: output ``.parquet`` or ``.csv``: one row per (student, module, presentation, week).
        weeks: cut-off weeks (see :func:`current_week`).
        oulad: an OULAD-shaped folder; or ``events`` (CSV/Parquet export) with ``mapping`` (YAML).
        report: also write the cleaning report as JSON here.

    Returns:
        A :class:`FeaturesJob`.

    Raises:
        DataError: neither or both sources, a missing mapping, an unwritable output.
    """
    from studentops.events.cleaning import clean_events
    from studentops.events.frames import build_features, profile_columns
    from studentops.events.mapping import load_events
    from studentops.events.oulad import read_oulad

    started = time.perf_counter()
    if (oulad is None) == (events is None):
        raise DataError("give either oulad (a folder) or events (an export) with mapping")
    if oulad is not None:
        log, students = read_oulad(oulad)
    else:
        if mapping is None:
            raise DataError("events needs mapping (a YAML file)")
        assert events is not None
        log, students = load_events(events, mapping), None
    cleaned = clean_events(log)
    frame = build_features(cleaned.log, students, weeks)
    if oulad is not None:  # the same columns the oulad-pass model is trained on
        frame = profile_columns(frame)
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if out_path.suffix.lower() in (".parquet", ".pq"):
        frame.write_parquet(out_path)
    elif out_path.suffix.lower() == ".csv":
        frame.write_csv(out_path)
    else:
        raise DataError(f"{out_path}: write .parquet or .csv")
    summary = cleaned.report.summary()
    if report is not None:
        Path(report).write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    return FeaturesJob(
        out_path=out_path,
        rows=frame.height,
        columns=frame.width,
        weeks=list(weeks),
        seconds=time.perf_counter() - started,
        report=summary,
        report_text=str(cleaned.report),
    )
