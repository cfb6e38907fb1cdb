"""Early warning in production: who is at risk now, in week W of the running presentation?

Training with ``studentops train --profile oulad-pass --as-of-week W`` learns from finished
presentations as they looked at the end of week W; :func:`score_week` builds the same week-W
features for the current presentation from the same kind of folder and scores them with the
champion. Both sides take their columns from :func:`studentops.events.frames.profile_columns`,
so the table the model was trained on and the table it scores cannot drift apart (they once
did: the features file lacked ``enrolment_id`` and ``presentation_start``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from studentops.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

    from studentops.config import Settings
    from studentops.serving.predictor import Predictor


def latest_presentation(presentations: list[str]) -> str:
    """The most recent OULAD presentation code (``2014J`` after ``2014B`` after ``2013J``).

    Raises:
        DataError: ``presentations`` is empty.
    """
    if not presentations:
        raise DataError("no presentation in the data")
    return max(presentations, key=lambda p: (p[:-1], p[-1:]))


@dataclass
class WeekScores:
    """What :func:`score_week` did: rows scored, where the ranked list went, which model.

    ``rows`` = ``accepted`` + ``rejected`` enrolments; ``explained`` students got reasons.
    """

    week: int
    presentation: str
    rows: int
    accepted: int
    rejected: int
    out_path: Path
    model_name: str
    model_version: str
    explained: int
    withdrawn_left_out: int = 0
    has_click_log: bool = True
    band_rule: str = ""
    band_counts: dict[str, int] = field(default_factory=dict)


def current_frame(
    week: int,
    *,
    oulad_dir: str | Path | None = None,
    presentation: str | None = None,
) -> tuple[pd.DataFrame, str]:
    """Week-``week`` features of one presentation (default: the latest in the folder).

    Returns:
        (frame in the profile's columns, ``(n_enrolments, n_columns - 1)``, presentation code).
        The outcome column is dropped: a running presentation has none, and a model must never
        see it when scoring.

    Raises:
        DataError: the folder is unreadable or ``presentation`` is not in it.
    """
    from studentops.datasets.profile import load_profile
    from studentops.events.frames import PROFILE, oulad_weekly_features, to_profile_frame

    features = oulad_weekly_features(oulad_dir, [week])
    codes = sorted(features["presentation"].cast(pl.String).unique().to_list())
    chosen = presentation or latest_presentation(codes)
    if chosen not in codes:
        raise DataError(f"presentation {chosen} is not in the data (found {', '.join(codes)})")
    features = features.filter(pl.col("presentation").cast(pl.String) == chosen)
    frame = to_profile_frame(features, load_profile(PROFILE))
    target = load_profile(PROFILE).target.column
    return frame.drop(columns=[target]), chosen


def score_week(
    week: int,
    out: str | Path,
    *,
    profile: str = "oulad-pass",
    oulad_dir: str | Path | None = None,
    presentation: str | None = None,
    explain_top: int = 50,
    top_k: int = 3,
    include_withdrawn: bool = False,
    settings: Settings | None = None,
    predictor: Predictor | None = None,
) -> WeekScores:
    """Score the current presentation at ``week`` with the profile's champion.

    Args:
        week: the cut-off week (features use events before day 7 x week).
        out: CSV or Parquet file for the ranked list (highest risk first).
        profile: the event-log profile whose champion scores (``oulad-pass``).
        oulad_dir: an OULAD-shaped folder (default ``data_dir/oulad``).
        presentation: which presentation is running (default: the latest in the folder).
        explain_top: the reasons of this many highest-risk students (SHAP) are added.
        include_withdrawn: keep the students already withdrawn at the cut-off. By default they
            are left out of the list (and counted in ``withdrawn_left_out``): they are at risk by
            definition, a counselor can no longer help them, and ranked first they would take
            every place at the top and every explanation.
        predictor: score with this instead of loading the champion (tests).

    Returns:
        A :class:`WeekScores`.

    Raises:
        ModelError: no champion for the profile.
        DataError: the folder or the presentation is missing.
    """
    from studentops.config import load_settings
    from studentops.serving.batch import (
        format_reasons,
        load_predictor,
        score_frame,
        top_risk_students,
        write_table,
    )

    settings = settings or load_settings()
    folder = Path(oulad_dir) if oulad_dir else Path(settings.data_dir) / "oulad"
    if not folder.is_dir():
        raise DataError(f"OULAD folder not found: {folder} (give --oulad)")
    predictor = predictor or load_predictor(profile, settings)
    frame, chosen = current_frame(week, oulad_dir=folder, presentation=presentation)
    has_click_log = bool(frame["clicks"].notna().any()) if "clicks" in frame else False
    left_out = 0
    if not include_withdrawn and "withdrawn" in frame:
        gone = frame["withdrawn"].astype("boolean").fillna(False).to_numpy(dtype=bool)
        left_out = int(gone.sum())
        frame = frame.loc[~gone].reset_index(drop=True)
    scored, result, scores = score_frame(predictor, frame)
    explained = 0
    if scores is not None and explain_top > 0:
        top = top_risk_students(predictor, frame, n=explain_top, top_k=top_k)
        reasons = [format_reasons(item["reasons"]) for item in top]
        scored["reasons"] = reasons + [""] * (len(scored) - len(reasons))
        explained = len(reasons)
    path = write_table(scored, Path(out))
    return WeekScores(
        week=week,
        presentation=chosen,
        rows=result.total,
        accepted=result.accepted,
        rejected=result.rejected,
        out_path=path,
        model_name=predictor.info.name,
        model_version=predictor.info.version,
        explained=explained,
        withdrawn_left_out=left_out,
        has_click_log=has_click_log,
        band_rule=predictor.band_rule(),
        band_counts=(
            {str(k): int(v) for k, v in scored["risk_band"].value_counts(sort=False).items()}
            if "risk_band" in scored
            else {}
        ),
    )
