"""Adapter: the Open University Learning Analytics Dataset (OULAD) as an :class:`EventLog`.

OULAD keeps one table per kind of fact; this turns them into events:

* ``studentRegistration`` -> a ``registration`` event at ``date_registration`` (a missing date
  still becomes an event with no day, so cleaning counts it rather than it vanishing) and an
  ``unregistration`` event at ``date_unregistration`` when there is one;
* ``studentAssessment`` + ``assessments`` -> ``submission`` (TMA, CMA) or ``exam`` events with
  score, due day, weight and ``is_banked``;
* ``studentVle`` (the click log, absent from the seed copy) + ``vle`` -> ``activity`` events
  with clicks, the site as ``resource_id`` and its ``activity_type``.

``studentInfo`` becomes the static per-enrolment table (demographics and ``final_result``).
Student ids are kept as text so every source shares one key type.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import polars as pl

from studentops.errors import DataError
from studentops.events.schema import TEXT, EventLog, EventType, cast

TABLES = (
    "courses",
    "assessments",
    "studentInfo",
    "studentRegistration",
    "studentAssessment",
)
OPTIONAL_TABLES = ("vle", "studentVle")
CLICK_LOG = "studentVle"
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
# Types of the OULAD columns the adapter uses, given to the CSV reader so it never has to scan a
# whole file to guess them and parses codes straight into 4-byte categoricals. Student and site
# ids are read as text (they stay text in the events); assessment ids only join OULAD tables, so
# stay numbers. Days are floats because OULAD writes some as "-159.0".
DTYPES: dict[str, pl.DataType] = {
    "code_module": TEXT,
    "code_presentation": TEXT,
    "id_student": pl.String(),
    "id_assessment": pl.Int64(),
    "id_site": TEXT,
    "module_presentation_length": pl.Int32(),
    "assessment_type": pl.String(),
    "activity_type": TEXT,
    "date": pl.Float64(),
    "date_registration": pl.Float64(),
    "date_unregistration": pl.Float64(),
    "date_submitted": pl.Float64(),
    "weight": pl.Float64(),
    "score": pl.Float64(),
    "is_banked": pl.Int8(),
    "sum_click": pl.Int32(),
}
NULLS = ["", "?"]
Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)


def _read(path: Path) -> pl.DataFrame:
    try:
        return pl.read_csv(
            path, schema_overrides=DTYPES, infer_schema_length=10_000, null_values=NULLS
        )
    except (pl.exceptions.ComputeError, OSError) as exc:
        raise DataError(f"{path}: not a readable CSV ({exc.__class__.__name__})") from exc


def read_tables(folder: str | Path) -> dict[str, pl.DataFrame | pl.LazyFrame]:
    """The OULAD CSV files of ``folder`` by table name (``studentVle`` only if present).

    The click log (``studentVle``, 10 million rows and more) is returned as a lazy scan: the
    adapter then parses only the columns it needs, straight into the event columns, instead
    of holding the raw table and the events at once.

    Returns:
        Table name -> frame (lazy for ``studentVle``), OULAD column names.

    Raises:
        DataError: the folder or a required table is missing, or a CSV is unreadable.
    """
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"OULAD folder not found: {root}")
    tables: dict[str, pl.DataFrame | pl.LazyFrame] = {}
    for name in (*TABLES, *OPTIONAL_TABLES):
        path = root / f"{name}.csv"
        if name == CLICK_LOG and path.is_file():
            tables[name] = pl.scan_csv(
                path, schema_overrides=DTYPES, infer_schema_length=10_000, null_values=NULLS
            )
        elif path.is_file():
            tables[name] = _read(path)
        elif name in TABLES:
            raise DataError(f"OULAD folder {root}: {name}.csv is missing")
    return tables


def _keys(frame: Frame) -> Frame:
    names = frame.collect_schema().names()
    return frame.rename({k: v for k, v in KEY_RENAME.items() if k in names})


def _day(column: str) -> pl.Expr:
    # OULAD writes days as floats ("-159.0"); they are whole days.
    return pl.col(column).cast(pl.Float64).fill_nan(None).round(0).cast(pl.Int32)


def _text(frame: pl.DataFrame | pl.LazyFrame, *names: str) -> list[pl.Expr]:
    """``names`` as :data:`TEXT`, whether read from a file (text) or made in memory (numbers)."""
    schema = frame.collect_schema()
    return [cast(pl.col(n), schema[n], TEXT) for n in names]


def _kind(name: str) -> pl.Expr:
    return pl.lit(name, dtype=EventType).alias("event_type")


def _assessment_id(frame: pl.DataFrame) -> pl.Expr:
    return cast(pl.col("id_assessment"), frame.schema["id_assessment"], TEXT).alias("assessment_id")


def students_table(info: pl.DataFrame) -> pl.DataFrame:
    """The static table: one row per (student, module, presentation) with its outcome.

    Text columns become categoricals: they are repeated on every weekly row (40 weeks x
    100,000 students is 4 million rows), where a 4-byte code beats a string many times over.

    Args:
        info: ``studentInfo`` as read, ``(n_enrolments, 12)``.

    Returns:
        ``(n_enrolments, 3 + k)``: the key columns as text, then the :data:`STATIC_COLUMNS`
        present (``k`` of them).
    """
    info = _keys(info)
    static = [c for c in STATIC_COLUMNS if c in info.columns]
    numeric = [c for c in static if info.schema[c].is_numeric()]
    return info.select(
        *_text(info, "student_id", "module", "presentation"),
        *[pl.col(c) if c in numeric else _text(info, c)[0] for c in static],
    )


def _registration_events(reg: pl.DataFrame) -> pl.DataFrame:
    key = _text(reg, "student_id", "module", "presentation")
    return pl.concat(
        [
            reg.select(
                *key,
                _day("date_registration").alias("day"),
                _kind("registration"),
            ),
            reg.filter(pl.col("date_unregistration").is_not_null()).select(
                *key,
                _day("date_unregistration").alias("day"),
                _kind("unregistration"),
            ),
        ]
    )


def _assessment_events(sa: pl.DataFrame, assessments: pl.DataFrame) -> pl.DataFrame:
    cat = assessments.select(
        "id_assessment", "module", "presentation", "assessment_type", "date", "weight"
    )
    joined = sa.join(cat, on="id_assessment", how="left")
    orphans = joined.filter(pl.col("module").is_null()).height
    if orphans:
        raise DataError(f"studentAssessment: {orphans} rows name an assessment not in assessments")
    return joined.select(
        *_text(joined, "student_id", "module", "presentation"),
        _day("date_submitted").alias("day"),
        pl.when(pl.col("assessment_type") == "Exam")
        .then(_kind("exam"))
        .otherwise(_kind("submission")),
        _assessment_id(joined),
        pl.col("score").cast(pl.Float64),
        _day("date").alias("due_day"),
        pl.col("weight").cast(pl.Float64),
        (pl.col("is_banked") == 1).alias("banked"),
    )


def _activity_events(vle: pl.DataFrame, clicks: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """The click log as activity events, built lazily so the raw rows are never all held."""
    sites = vle.lazy().select(*_text(vle, "id_site", "activity_type")).unique("id_site")
    log = _keys(clicks.lazy())
    query = (
        log.with_columns(_text(log, "id_site"))
        .join(sites, on="id_site", how="left", maintain_order="left")
        .select(
            *_text(log, "student_id", "module", "presentation"),
            _day("date").alias("day"),
            _kind("activity"),
            pl.col("sum_click").cast(pl.Int32).alias("clicks"),
            pl.col("id_site").alias("resource_id"),
            "activity_type",
        )
    )
    try:
        return query.collect()
    except pl.exceptions.ComputeError as exc:
        raise DataError(f"{CLICK_LOG}: not a readable click log ({exc})") from exc


def log_from_tables(
    tables: dict[str, pl.DataFrame] | dict[str, pl.DataFrame | pl.LazyFrame],
) -> tuple[EventLog, pl.DataFrame]:
    """Turn OULAD tables (as read, OULAD column names) into (event log, static students).

    Every table but the click log must be a DataFrame; the click log may be lazy.

    Returns:
        (event log of registrations, unregistrations, submissions, exams and activity, with the
        assessment catalogue and presentation lengths in days; the static students table).

    Raises:
        DataError: a required table is missing or lazy, a submission names an unknown
            assessment, or the click log is unreadable.
    """
    missing = [t for t in TABLES if t not in tables]
    if missing:
        raise DataError(f"OULAD tables missing: {', '.join(missing)}")
    eager = {name: t for name, t in tables.items() if isinstance(t, pl.DataFrame)}
    lazy = [name for name in tables if name not in eager and name != CLICK_LOG]
    if lazy:
        raise DataError(f"OULAD tables must be read, not lazy: {', '.join(lazy)}")
    assessments = _keys(eager["assessments"])
    parts = [
        _registration_events(_keys(eager["studentRegistration"])),
        _assessment_events(_keys(eager["studentAssessment"]), assessments),
    ]
    if CLICK_LOG in tables:
        if "vle" not in eager:
            raise DataError("OULAD: studentVle needs the vle table for activity types")
        parts.append(_activity_events(eager["vle"], tables[CLICK_LOG]))
    # No rechunk: the click events are most of the log and are not copied again.
    events = pl.concat(parts, how="diagonal_relaxed", rechunk=False)
    del parts
    catalogue = assessments.select(
        *_text(assessments, "module", "presentation"),
        _assessment_id(assessments),
        "assessment_type",
        _day("date").alias("due_day"),
        pl.col("weight").cast(pl.Float64),
    )
    lengths = _keys(eager["courses"]).select(
        "module", "presentation", pl.col("module_presentation_length").alias("length_days")
    )
    return EventLog.build(events, catalogue, lengths), students_table(eager["studentInfo"])


def read_oulad(folder: str | Path) -> tuple[EventLog, pl.DataFrame]:
    """Read an OULAD folder into (event log, static student table).

    Returns:
        As :func:`log_from_tables`.

    Raises:
        DataError: as :func:`read_tables` and :func:`log_from_tables`.
    """
    return log_from_tables(read_tables(folder))
