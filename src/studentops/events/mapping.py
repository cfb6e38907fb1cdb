"""Map another institution's LMS export onto the event schema with a YAML file, not code.

A mapping names, for each schema field, the export's column (or a constant), lists which of the
export's event-type values mean which schema type, and says how to turn times into days::

    columns:
      student_id: user
      module: course
      presentation: term
      event_type: action
      timestamp: when          # or  day: <column of days since the start>
      assessment_id: item
      score: grade
      due_day: due
      weight: weight
      clicks: count
      resource_id: page        # the page/resource of an activity
    constants:
      presentation: "2024"     # for a field the export does not have
    event_types:
      submission: [assignment_submitted]
      exam: [exam_graded]
      activity: [page_view, video_play]
      registration: [enrolled]
      unregistration: [dropped]
    timestamp_format: "%Y-%m-%d %H:%M:%S"
    starts: {"2024": 2024-09-02}   # day 0 of each presentation (or `start:` for all)
    score_max: 20                   # scores are rescaled to 0-100

Values of the type column that the mapping does not list become ``other``: cleaning drops and
counts them, so an unmapped type is visible in the report rather than silently lost. A value
that cannot be read as its field's type (a score "abc") is an error naming the column.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from studentops.datasets.loading import sniff_delimiter
from studentops.errors import DataError
from studentops.events.schema import EVENT_SCHEMA, EVENT_TYPES, EventLog

MAPPABLE = (*EVENT_SCHEMA, "timestamp")
TRUE_VALUES = ("1", "true", "t", "yes", "y")


class EventMapping(BaseModel):
    """A mapping file; see the module docstring for the format."""

    model_config = ConfigDict(extra="forbid")

    columns: dict[str, str]
    constants: dict[str, str | int | float | bool] = Field(default_factory=dict)
    event_types: dict[str, list[str | int]]
    sep: str | None = None
    timestamp_format: str | None = None
    start: date | None = None
    starts: dict[str, date] = Field(default_factory=dict)
    score_max: float = 100.0

    @model_validator(mode="after")
    def _check(self) -> EventMapping:
        unknown = [f for f in [*self.columns, *self.constants] if f not in MAPPABLE]
        if unknown:
            raise ValueError(f"unknown field(s) {unknown}; fields: {', '.join(MAPPABLE)}")
        bad_types = [t for t in self.event_types if t not in EVENT_TYPES or t == "other"]
        if bad_types:
            raise ValueError(f"unknown event type(s) {bad_types}; types: {EVENT_TYPES[:-1]}")
        given = set(self.columns) | set(self.constants)
        for needed in ("student_id", "module", "presentation", "event_type"):
            if needed not in given:
                raise ValueError(f"'{needed}' needs a column or a constant")
        if "day" not in given and "timestamp" not in given:
            raise ValueError("give a 'day' or a 'timestamp' column")
        if "timestamp" in self.columns and not (self.start or self.starts):
            raise ValueError("a 'timestamp' column needs 'start' or 'starts' (day 0)")
        if self.score_max <= 0:
            raise ValueError("score_max must be positive")
        return self


def load_mapping(path: str | Path) -> EventMapping:
    """Read and check a mapping file; a problem is one DataError line.

    Args:
        path: the YAML mapping (format in the module docstring).

    Returns:
        The checked :class:`EventMapping`.

    Raises:
        DataError: the file is missing, is not YAML, or breaks a rule of the format (the
            message names the field).
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"mapping file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
        return EventMapping.model_validate(data)
    except yaml.YAMLError as exc:
        raise DataError(f"{p}: not valid YAML ({exc.__class__.__name__})") from exc
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "mapping"
        raise DataError(f"{p}: {where}: {err['msg'].removeprefix('Value error, ')}") from exc


def _read_export(path: Path, sep: str | None) -> pl.DataFrame:
    if not path.is_file():
        raise DataError(f"event export not found: {path}")
    if path.suffix.lower() in (".parquet", ".pq"):
        frame = pl.read_parquet(path)
        return frame.select(pl.all().cast(pl.String))
    with path.open("r", encoding="utf-8-sig", newline="") as fh:
        sample = fh.read(64 * 1024)
    try:
        return pl.read_csv(
            path,
            separator=sep or sniff_delimiter(sample),
            infer_schema=False,
            null_values=[""],
            encoding="utf8-lossy",
        )
    except pl.exceptions.ComputeError as exc:
        raise DataError(f"{path}: not a readable CSV ({exc})") from exc


def _parsed(frame: pl.DataFrame, field: str, source: str, dtype: pl.DataType) -> pl.Series:
    raw = frame[source].str.strip_chars()
    if dtype == pl.Boolean():
        return raw.str.to_lowercase().is_in(TRUE_VALUES).alias(field)
    if dtype in (pl.Int32(), pl.Float64()):
        parsed = raw.cast(pl.Float64, strict=False)
        bad = raw.is_not_null() & (raw != "") & parsed.is_null()
        if bad.any():
            example = raw.filter(bad)[0]
            raise DataError(
                f"column '{source}' ({field}): {int(bad.sum())} value(s) are not numbers, "
                f"e.g. {example!r}"
            )
        if dtype == pl.Int32():
            return parsed.floor().cast(pl.Int32).alias(field)
        return parsed.alias(field)
    return raw.alias(field)


def _days(frame: pl.DataFrame, mapping: EventMapping, source: str) -> pl.Series:
    raw = frame[source].str.strip_chars()
    stamps = raw.str.to_datetime(format=mapping.timestamp_format, strict=False)
    bad = raw.is_not_null() & stamps.is_null()
    if bad.any():
        raise DataError(
            f"column '{source}' (timestamp): {int(bad.sum())} value(s) are not times, "
            f"e.g. {raw.filter(bad)[0]!r}"
        )
    pres = frame["presentation"]
    starts = pres.replace_strict(
        {k: v for k, v in mapping.starts.items()}, default=mapping.start, return_dtype=pl.Date
    )
    unknown = pres.is_not_null() & starts.is_null()
    if unknown.any():
        raise DataError(f"no start date for presentation {pres.filter(unknown)[0]!r}")
    delta = stamps.dt.date() - starts
    return delta.dt.total_days().cast(pl.Int32).alias("day")


def _event_types(values: pl.Series, mapping: EventMapping) -> pl.Series:
    lookup: dict[str, str] = {}
    for kind, sources in mapping.event_types.items():
        for value in sources:
            lookup[str(value)] = kind
    return values.replace_strict(lookup, default="other", return_dtype=pl.String).alias(
        "event_type"
    )


def apply_mapping(frame: pl.DataFrame, mapping: EventMapping) -> pl.DataFrame:
    """The export (all columns as text) rewritten into the event schema's columns.

    Args:
        frame: the export as read, ``(n_rows, n_export_columns)``, every column text.
        mapping: the checked mapping.

    Returns:
        ``(n_rows, n_mapped_fields)``: one column per mapped or constant field plus
        ``event_type`` and ``day`` (days since the presentation start); scores rescaled to
        0-100 when the mapping gives ``score_max``.

    Raises:
        DataError: a mapped column is absent, or a value cannot be read (the message names the
            column and an example).
    """
    absent = [c for c in mapping.columns.values() if c not in frame.columns]
    if absent:
        raise DataError(
            f"the export has no column(s) {', '.join(absent)} "
            f"(it has: {', '.join(frame.columns[:12])})"
        )
    out: dict[str, pl.Series] = {}
    for field, value in mapping.constants.items():
        out[field] = pl.Series(field, [str(value)] * frame.height, dtype=pl.String)
    for field, source in mapping.columns.items():
        if field in ("timestamp", "event_type"):
            continue
        out[field] = _parsed(frame, field, source, EVENT_SCHEMA[field])
    out["event_type"] = (
        _event_types(frame[mapping.columns["event_type"]].str.strip_chars(), mapping)
        if "event_type" in mapping.columns
        else _event_types(out["event_type"], mapping)
    )
    result = pl.DataFrame(list(out.values()))
    if "timestamp" in mapping.columns:
        result = result.with_columns(
            _days(
                result.with_columns(frame[mapping.columns["timestamp"]]),
                mapping,
                mapping.columns["timestamp"],
            )
        )
    if "score" in result.columns and mapping.score_max != 100.0:
        result = result.with_columns(pl.col("score") * (100.0 / mapping.score_max))
    return result


def load_events(
    path: str | Path,
    mapping_file: str | Path,
    assessments: pl.DataFrame | None = None,
) -> EventLog:
    """Read an LMS export and map it onto the event schema (see the module docstring).

    Args:
        path: the export, CSV (delimiter sniffed unless the mapping sets ``sep``) or Parquet.
        mapping_file: the YAML mapping.
        assessments: the assessment catalogue if the institution has one; otherwise it is
            derived from the submissions (so an assessment nobody submitted is not "missed").

    Returns:
        An :class:`~studentops.events.schema.EventLog` of ``n_rows`` events (unmapped types
        become ``other``, which cleaning drops and counts).

    Raises:
        DataError: a missing or empty file, a bad mapping, or an unreadable value.
    """
    mapping = load_mapping(mapping_file)
    frame = _read_export(Path(path), mapping.sep)
    if frame.is_empty():
        raise DataError(f"{path}: no data rows")
    events = apply_mapping(frame, mapping)
    return EventLog.build(events, assessments)
