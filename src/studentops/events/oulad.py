"""Adapter: the Open University Learning Analytics Dataset (OULAD) as an :class:`EventLog`.

OULAD keeps one table per kind of fact; this turns them into events:

* ``studentRegistration`` -> a ``registration`` event at ``date_registration`` (a missing date
  still becomes an event with no day, so cleaning counts it rather than it vanishing) and an
  ``unregistration`` event at ``date_unregistration`` when there is one;
* ``studentAssessment`` + ``assessments`` -> ``submission`` (TMA, CMA) or ``exam`` events with
  score, due day, weight and ``is_banked``;
* ``studentVle`` (the click log, absent from the seed copy) + ``vle`` -> ``activity`` events.

``studentInfo`` becomes the static per-enrolment table (demographics and ``final_result``).
Student ids are kept as text so every source shares one key type.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from studentops.errors import DataError
from studentops.events.schema import EventLog

TABLES = (
    "courses",
    "assessments",
    "studentInfo",
    "studentRegistration",
    "studentAssessment",
)
KEY_RENAME = {
    "code_module": "module",
    "code_presentation": "presentation",
    "id_student": "student_id",
}
STATIC_COLUMNS = (
    "gender",
    "region",
    "highest_education",
    "imd_band",
    "age_band",
    "num_of_prev_attempts",
    "studied_credits",
    "disability",
    "final_result",
)


OPTIONAL_TABLES = ("vle", "studentVle")


def _read(path: Path) -> pl.DataFrame:
    try:
        return pl.read_csv(path, infer_schema_length=None, null_values=["", "?"])
    except (pl.exceptions.ComputeError, OSError) as exc:
        raise DataError(f"{path}: not a readable CSV ({exc.__class__.__name__})") from exc


def read_tables(folder: str | Path) -> dict[str, pl.DataFrame]:
    """The OULAD CSV files of ``folder`` by table name (``studentVle`` only if present)."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"OULAD folder not found: {root}")
    tables: dict[str, pl.DataFrame] = {}
    for name in (*TABLES, *OPTIONAL_TABLES):
        path = root / f"{name}.csv"
        if path.is_file():
            tables[name] = _read(path)
        elif name in TABLES:
            raise DataError(f"OULAD folder {root}: {name}.csv is missing")
    return tables


def _keys(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.rename({k: v for k, v in KEY_RENAME.items() if k in frame.columns})


def _day(column: str) -> pl.Expr:
    # OULAD writes days as floats ("-159.0"); they are whole days.
    return pl.col(column).cast(pl.Float64).fill_nan(None).round(0).cast(pl.Int32)


def students_table(info: pl.DataFrame) -> pl.DataFrame:
    """The static table: one row per (student, module, presentation) with its outcome."""
    info = _keys(info)
    return info.with_columns(pl.col("student_id").cast(pl.String)).select(
        "student_id", "module", "presentation", *[c for c in STATIC_COLUMNS if c in info.columns]
    )


def _registration_events(reg: pl.DataFrame) -> pl.DataFrame:
    reg = reg.with_columns(pl.col("student_id").cast(pl.String))
    joined = pl.concat(
        [
            reg.select(
                "student_id",
                "module",
                "presentation",
                _day("date_registration").alias("day"),
                pl.lit("registration").alias("event_type"),
            ),
            reg.filter(pl.col("date_unregistration").is_not_null()).select(
                "student_id",
                "module",
                "presentation",
                _day("date_unregistration").alias("day"),
                pl.lit("unregistration").alias("event_type"),
            ),
        ]
    )
    return joined


def _assessment_events(sa: pl.DataFrame, assessments: pl.DataFrame) -> pl.DataFrame:
    cat = assessments.select(
        "id_assessment", "module", "presentation", "assessment_type", "date", "weight"
    )
    joined = sa.join(cat, on="id_assessment", how="left")
    orphans = joined.filter(pl.col("module").is_null()).height
    if orphans:
        raise DataError(f"studentAssessment: {orphans} rows name an assessment not in assessments")
    return joined.select(
        pl.col("student_id").cast(pl.String),
        "module",
        "presentation",
        _day("date_submitted").alias("day"),
        pl.when(pl.col("assessment_type") == "Exam")
        .then(pl.lit("exam"))
        .otherwise(pl.lit("submission"))
        .alias("event_type"),
        pl.col("id_assessment").cast(pl.String).alias("assessment_id"),
        pl.col("score").cast(pl.Float64),
        _day("date").alias("due_day"),
        pl.col("weight").cast(pl.Float64),
        (pl.col("is_banked") == 1).alias("banked"),
    )


def _activity_events(vle: pl.DataFrame, clicks: pl.DataFrame) -> pl.DataFrame:
    sites = vle.select("id_site", "activity_type")
    return (
        _keys(clicks)
        .join(sites, on="id_site", how="left")
        .select(
            pl.col("student_id").cast(pl.String),
            "module",
            "presentation",
            _day("date").alias("day"),
            pl.lit("activity").alias("event_type"),
            pl.col("sum_click").cast(pl.Int32).alias("clicks"),
            "activity_type",
        )
    )


def log_from_tables(tables: dict[str, pl.DataFrame]) -> tuple[EventLog, pl.DataFrame]:
    """Turn OULAD tables (as read, OULAD column names) into (event log, static students)."""
    missing = [t for t in TABLES if t not in tables]
    if missing:
        raise DataError(f"OULAD tables missing: {', '.join(missing)}")
    assessments = _keys(tables["assessments"])
    parts = [
        _registration_events(_keys(tables["studentRegistration"])),
        _assessment_events(_keys(tables["studentAssessment"]), assessments),
    ]
    if "studentVle" in tables:
        if "vle" not in tables:
            raise DataError("OULAD: studentVle needs the vle table for activity types")
        parts.append(_activity_events(tables["vle"], tables["studentVle"]))
    events = pl.concat(parts, how="diagonal_relaxed")
    catalogue = assessments.select(
        "module",
        "presentation",
        pl.col("id_assessment").cast(pl.String).alias("assessment_id"),
        "assessment_type",
        _day("date").alias("due_day"),
        pl.col("weight").cast(pl.Float64),
    )
    lengths = _keys(tables["courses"]).select(
        "module", "presentation", pl.col("module_presentation_length").alias("length_days")
    )
    return EventLog.build(events, catalogue, lengths), students_table(tables["studentInfo"])


def read_oulad(folder: str | Path) -> tuple[EventLog, pl.DataFrame]:
    """Read an OULAD folder into (event log, static student table)."""
    return log_from_tables(read_tables(folder))
