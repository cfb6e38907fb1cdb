"""Training frames from an OULAD-shaped folder: the ``oulad-pass`` table as of a cut-off week.

The one place that turns a folder of OULAD tables into what training and scoring consume: read,
clean, weekly features (:mod:`studentops.events.weekly`), the cohort and base-rate features
(:mod:`studentops.events.cohort`), then the profile's columns
(:func:`profile_columns`). ``studentops train --as-of-week W`` writes
:func:`write_weekly_file`'s Parquet file; the early-warning study
(:mod:`studentops.training.early_warning`) and ``events score`` read the same frames, so the
table a model learns from and the table it scores cannot drift apart.

This module sits below training: it imports events, datasets and settings, never training.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from studentops.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

    from studentops.config import Settings
    from studentops.datasets.profile import Profile
    from studentops.events.schema import EventLog

PROFILE = "oulad-pass"
"""The built-in profile of the weekly OULAD table (``datasets/profiles/oulad-pass.yaml``)."""


def default_oulad_dir() -> Path:
    """``<data_dir>/oulad`` from the settings (``../shared/data/oulad`` by default).

    Returns:
        The folder path; it is not checked to exist.
    """
    from studentops.config import load_settings

    return Path(load_settings().data_dir) / "oulad"


def oulad_weekly_features(oulad_dir: str | Path | None, weeks: Iterable[int]) -> pl.DataFrame:
    """Read, clean and featurise OULAD for several weeks at once (one pass over the log).

    Args:
        oulad_dir: an OULAD-shaped folder of CSV tables (default :func:`default_oulad_dir`).
        weeks: cut-off weeks, each >= 0; week ``w`` sees events with ``day < 7 * w``.

    Returns:
        Polars frame of ``n_enrolments x len(set(weeks))`` rows: the key columns, ``week``,
        ``cutoff_day`` (days), the weekly features of :data:`studentops.events.weekly.FEATURES`
        (and activity features when the folder has a click log), the cohort and base-rate
        features of :mod:`studentops.events.cohort`, and the ``studentInfo`` columns.

    Raises:
        DataError: the folder or a required table is missing or unreadable, or a week is < 0.
    """
    from studentops.events.cleaning import clean_events
    from studentops.events.oulad import read_oulad

    log, students = read_oulad(oulad_dir or default_oulad_dir())
    return build_features(clean_events(log).log, students, weeks)


def build_features(
    log: EventLog,
    students: pl.DataFrame | None,
    weeks: Iterable[int],
    *,
    activity: bool | None = None,
) -> pl.DataFrame:
    """Weekly, cohort and base-rate features of a cleaned log: every feature a model sees.

    Args:
        log: a cleaned event log (:func:`studentops.events.cleaning.clean_events`).
        students: the static table (key columns, demographics, outcome) or None.
        weeks: cut-off weeks, each >= 0.
        activity: add the activity features; default: when the log has activity events.

    Returns:
        :func:`studentops.events.weekly.build_weekly_features` (one row per enrolment and week,
        ordered by enrolment then week) with
        :func:`studentops.events.cohort.add_cohort_features` and
        :func:`studentops.events.cohort.add_base_rates` appended.

    Raises:
        DataError: a week < 0, or the students table does not fit the log.
    """
    from studentops.events.cohort import add_base_rates, add_cohort_features
    from studentops.events.weekly import build_weekly_features

    features = build_weekly_features(log, students, weeks, activity=activity)
    return add_base_rates(add_cohort_features(features), students, log.presentations)


def profile_columns(features: pl.DataFrame) -> pl.DataFrame:
    """The weekly feature table with the key columns the ``oulad-pass`` profile adds:
    ``enrolment_id`` (module/presentation/student) and ``presentation_start`` (B or J).

    Every table built from weekly features (the training frame, ``events features`` files,
    the frame :func:`studentops.serving.weekly.score_week` scores) passes through here.

    Returns:
        ``features`` (``n_rows`` rows) with the two text columns appended.
    """
    return features.with_columns(
        pl.concat_str("module", "presentation", "student_id", separator="/").alias("enrolment_id"),
        pl.col("presentation").cast(pl.String).str.slice(-1).alias("presentation_start"),
    )


def to_profile_frame(features: pl.DataFrame, profile: Profile) -> pd.DataFrame:
    """The columns of ``profile`` from a weekly feature table, as pandas.

    Args:
        features: rows of :func:`oulad_weekly_features` (any number of weeks).
        profile: the profile whose columns are kept (``oulad-pass``).

    Returns:
        Pandas frame of ``(n_rows, len(profile.columns))``, categoricals as plain text; the
        activity columns are empty (null) when the source had no click log.

    Raises:
        DataError: ``features`` lacks another column the profile declares.
    """
    from studentops.events.cohort import RANKED_IN_COHORT
    from studentops.events.weekly import ACTIVITY_FEATURES, ENGAGEMENT_FEATURES

    frame = profile_columns(features)
    # A source without a click log has no activity columns: they are empty, not an error.
    optional = {
        *ACTIVITY_FEATURES,
        *ENGAGEMENT_FEATURES,
        *(f"{c}_pct" for c in RANKED_IN_COHORT if "click" in c),
    }
    empty = [c for c in profile.columns if c not in frame.columns and c in optional]
    frame = frame.with_columns(pl.lit(None, dtype=pl.Float64).alias(c) for c in empty)
    absent = [c for c in profile.columns if c not in frame.columns]
    if absent:
        raise DataError(f"feature table lacks profile column(s) {', '.join(absent)}")
    # Categoricals go to pandas as plain text, the form validation and training expect.
    text = pl.col(pl.Categorical, pl.Enum).cast(pl.String)
    return frame.select(list(profile.columns)).with_columns(text).to_pandas()


def weekly_training_frame(week: int, oulad_dir: str | Path | None = None) -> pd.DataFrame:
    """The ``oulad-pass`` table as of ``week``: what ``studentops train --as-of-week`` uses.

    Args:
        week: the cut-off week (features from events with ``day < 7 * week``), >= 0.
        oulad_dir: the OULAD folder (default :func:`default_oulad_dir`).

    Returns:
        Raw profile columns, one row per enrolment (``n_enrolments`` rows);
        ``validate(frame, profile)`` accepts every row, and ``train_model`` trains on it
        (``TrainRequest(frame=validate(...).valid, profile=profile, split="group")``).

    Raises:
        DataError: as :func:`oulad_weekly_features` and :func:`to_profile_frame`.
    """
    from studentops.datasets.profile import load_profile

    profile = load_profile(PROFILE)
    return to_profile_frame(oulad_weekly_features(oulad_dir, [week]), profile)


def early_warning_frame(
    week: int, oulad_dir: str | Path | None = None
) -> tuple[pd.DataFrame, Profile]:
    """(frame, profile) ready for training at ``week``; split it grouped by ``student_id``.

    Returns:
        :func:`weekly_training_frame` of ``week`` and the ``oulad-pass`` profile.

    Raises:
        DataError: as :func:`weekly_training_frame`.
    """
    from studentops.datasets.profile import load_profile

    return weekly_training_frame(week, oulad_dir), load_profile(PROFILE)


def validated(frame: pd.DataFrame, profile: Profile) -> pd.DataFrame:
    """``frame`` in profile types (what training expects); any rejected row is an error.

    A reject here means the feature code and the profile disagree (a new feature out of its
    declared range, an unknown category), which must be fixed, not silently dropped.

    Args:
        frame: raw profile columns, ``(n_rows, n_columns)``.
        profile: the profile to validate against.

    Returns:
        The valid rows, ``(n_rows, n_columns)``, in the profile's types.

    Raises:
        DataError: at least one row is rejected (the summary names the reasons).
    """
    from studentops.datasets.validation import validate

    checked = validate(frame, profile)
    if checked.rejected:
        raise DataError(f"weekly frame does not fit profile {profile.name}: {checked.summary()}")
    return checked.valid


def write_weekly_file(
    profile: str, week: int, events_dir: str | Path | None, settings: Settings
) -> Path:
    """Build the event-log feature table as of ``week`` and keep it under the state folder.

    The file stays beside the run so the MLflow data fingerprint points at real rows; train on
    it with a split grouped by student, so no student is in both parts.

    Args:
        profile: the profile name or YAML path given to ``train``; must resolve to ``oulad-pass``.
        week: the cut-off week (>= 0).
        events_dir: the OULAD folder (default ``<data_dir>/oulad``).
        settings: where the state folder (``home``) and ``data_dir`` are.

    Returns:
        Path of ``<home>/events/oulad-pass-week-<week>.parquet``: one row per enrolment.

    Raises:
        DataError: another profile, a missing folder, or as :func:`weekly_training_frame`.
    """
    from studentops.datasets.profile import resolve_profile

    if resolve_profile(profile, settings).name != PROFILE:
        raise DataError(f"--as-of-week works with the event-log profile '{PROFILE}'")
    folder = Path(events_dir) if events_dir else Path(settings.data_dir) / "oulad"
    if not folder.is_dir():
        raise DataError(f"OULAD folder not found: {folder} (give --events-dir)")
    frame = weekly_training_frame(week, folder)
    out = settings.ensure_home() / "events" / f"{PROFILE}-week-{week}.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out, index=False)
    return out
