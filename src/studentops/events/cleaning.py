"""Cleaning an event log with every decision counted and reason-coded.

Each rule either *removes* events (they go to ``removed`` with a ``reason``), *changes* a value
(counted), or *flags* events that are kept as they are but that features treat specially
(counted, so the report shows how much of the data they touch). The invariant
``events in - removed == events out`` is checked, so nothing can vanish without a reason.

Rules, in the order they run:

=========================  =======  =====================================================
rule                       action   what
=========================  =======  =====================================================
unmapped_event_type        removed  the source type was not named in the mapping
missing_key                removed  no student, module, presentation or day
duplicate                  removed  an exact copy of an earlier event
duplicate_submission       removed  a second result for the same assessment (earliest kept)
missing_assessment_id      removed  a submission or exam that names no assessment
duplicate_registration     removed  a second (un)registration (the earliest is kept)
missing_due_day            changed  catalogue due day taken as the presentation's end
unknown_assessment         changed  a submitted assessment absent from the catalogue, added
catalogue_mismatch         changed  a submission's due day/weight replaced by the catalogue's
score_out_of_range         changed  a score outside 0-100 set to missing
missing_score              flagged  submitted but not marked: counts as submitted, no score
after_unregistration       removed  a submission/exam/activity after the student withdrew
banked                     flagged  a result carried over from an earlier presentation
before_start               flagged  a submission/exam/activity dated before day 0
registration_before_start  noted    registering before day 0 is normal; counted only
=========================  =======  =====================================================

A submission that never happened is not an event, so it cannot be cleaned: the weekly features
make it explicit (``n_missed``, and a zero in ``weighted_score``).

How it scales: no rule copies the log. Each rule marks rows in one array of reason codes
(0 = kept), reading only the columns it needs; the rules about submissions and registrations work
on just those few rows; the log is filtered once at the end. 10 million events clean in a few
seconds with about the memory of the log twice over (input and output).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import polars as pl

from studentops.errors import DataError
from studentops.events.schema import (
    ASSESSMENT_EVENT_TYPES,
    EVENT_SCHEMA,
    EVENT_TYPES,
    KEY,
    EventLog,
)

Action = Literal["removed", "changed", "flagged", "noted"]

RULES: dict[str, tuple[Action, str]] = {
    "unmapped_event_type": ("removed", "source event type missing or not named in the mapping"),
    "missing_key": ("removed", "no student, module, presentation or day"),
    "duplicate": ("removed", "exact copy of an earlier event"),
    "duplicate_submission": ("removed", "second result for the same assessment; earliest kept"),
    "missing_assessment_id": ("removed", "submission or exam without an assessment id"),
    "duplicate_registration": (
        "removed",
        "extra registration or unregistration (the earliest of each is kept)",
    ),
    "missing_due_day": ("changed", "catalogue due day missing: set to the presentation's end"),
    "unknown_assessment": ("changed", "submitted assessment missing from the catalogue: added"),
    "catalogue_mismatch": ("changed", "submission due day/weight replaced by the catalogue's"),
    "score_out_of_range": ("changed", "score outside 0-100 set to missing"),
    "missing_score": ("flagged", "submitted but not marked: counts as submitted, no score"),
    "after_unregistration": ("removed", "submission/exam/activity after the student withdrew"),
    "banked": ("flagged", "result carried over from an earlier presentation"),
    "before_start": ("flagged", "submission/exam/activity dated before day 0"),
    "registration_before_start": ("noted", "registration before day 0 (normal)"),
}

SCORE_MIN, SCORE_MAX = 0.0, 100.0
_CODE = {rule: i + 1 for i, rule in enumerate(RULES)}
_KIND = {name: i for i, name in enumerate(EVENT_TYPES)}
_NO_KIND = 255  # event type missing


@dataclass
class CleaningReport:
    """How many events each rule touched; ``removed`` holds the dropped events and reasons."""

    events_in: int
    events_out: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RULES, 0))
    catalogue_in: int = 0
    catalogue_out: int = 0

    @property
    def removed(self) -> int:
        """Events removed by all the ``removed`` rules together (a count of rows)."""
        return sum(n for rule, n in self.counts.items() if RULES[rule][0] == "removed")

    def to_frame(self) -> pl.DataFrame:
        """One row per rule: rule, action, count, description (zero counts included)."""
        return pl.DataFrame(
            {
                "rule": list(RULES),
                "action": [RULES[r][0] for r in RULES],
                "count": [self.counts[r] for r in RULES],
                "description": [RULES[r][1] for r in RULES],
            },
            schema_overrides={"count": pl.Int64},
        )

    def summary(self) -> dict[str, object]:
        """JSON-ready counts: events and catalogue rows in and out, removed, and per rule."""
        return {
            "events_in": self.events_in,
            "events_out": self.events_out,
            "removed": self.removed,
            "catalogue_in": self.catalogue_in,
            "catalogue_out": self.catalogue_out,
            "rules": {r: self.counts[r] for r in RULES},
        }

    def __str__(self) -> str:
        lines = [f"events in {self.events_in:,}  out {self.events_out:,}  removed {self.removed:,}"]
        for rule, (action, _) in RULES.items():
            lines.append(f"  {rule:<27} {action:<8} {self.counts[rule]:>10,}")
        return "\n".join(lines)


@dataclass
class CleanResult:
    """The cleaned log, the report, and every removed event (as it came in) with its reason."""

    log: EventLog
    report: CleaningReport
    removed: pl.DataFrame


class _Marks:
    """Why each event goes: 0 while it is kept, else the code of the rule that removed it.

    Rules run in order and each sees only the events still kept, exactly as if the log were
    filtered after every rule, but nothing is copied until the end.
    """

    def __init__(self, events: pl.DataFrame, report: CleaningReport) -> None:
        self.events = events
        self.report = report
        self.reason = np.zeros(events.height, dtype=np.uint8)

    @property
    def kept(self) -> np.ndarray:
        return self.reason == 0

    def mask(self, expr: pl.Expr) -> np.ndarray:
        """``expr`` over every event as a numpy mask (null counts as false)."""
        return self.events.select(expr.fill_null(False)).to_series().to_numpy()

    def remove(self, rule: str, rows: np.ndarray) -> None:
        """Remove the events at positions ``rows`` (or where a mask is true) still kept."""
        if rows.dtype == np.bool_:
            rows = np.flatnonzero(rows)
        rows = rows[self.reason[rows] == 0]
        self.reason[rows] = _CODE[rule]
        self.report.counts[rule] += len(rows)

    def count(self, rule: str, mask: np.ndarray) -> None:
        self.report.counts[rule] += int(np.count_nonzero(mask & self.kept))

    def rows(self, mask: np.ndarray, *columns: str) -> tuple[np.ndarray, pl.DataFrame]:
        """Positions of the kept events in ``mask`` and those events' ``columns``."""
        take = mask & self.kept
        return np.flatnonzero(take), self.events.select(columns).filter(pl.Series(take))


def _clean_catalogue(log: EventLog, subs: pl.DataFrame, report: CleaningReport) -> pl.DataFrame:
    """Fill missing due days from the presentation length and add submitted-but-unknown items."""
    cat = log.assessments.unique(
        ["module", "presentation", "assessment_id"], keep="first", maintain_order=True
    )
    report.catalogue_in = log.assessments.height
    if log.presentations is not None:
        lengths = log.presentations.unique(["module", "presentation"], keep="first")
        cat = cat.join(lengths, on=["module", "presentation"], how="left")
        filled = cat.filter(pl.col("due_day").is_null() & pl.col("length_days").is_not_null())
        report.counts["missing_due_day"] += filled.height
        cat = cat.with_columns(pl.coalesce("due_day", "length_days").alias("due_day")).drop(
            "length_days"
        )
    seen = subs.group_by("module", "presentation", "assessment_id", maintain_order=True).agg(
        pl.when(pl.col("event_type").first() == "exam")
        .then(pl.lit("Exam"))
        .otherwise(pl.lit("coursework"))
        .alias("assessment_type"),
        pl.col("due_day").drop_nulls().min().alias("due_day"),
        pl.col("weight").drop_nulls().min().alias("weight"),
    )
    unknown = seen.join(cat, on=["module", "presentation", "assessment_id"], how="anti")
    report.counts["unknown_assessment"] += unknown.height
    cat = pl.concat([cat, unknown.select(cat.columns)], how="vertical_relaxed")
    report.catalogue_out = cat.height
    return cat


def _later_copies(events: pl.DataFrame) -> np.ndarray:
    """Positions of events that are exact copies of an earlier event.

    Every row is hashed; the hashes seen more than once are found by sorting (several times
    cheaper than a hash table over 10 million rows), and only the rows carrying one of them are
    compared column by column, so a hash collision can never remove an event.
    """
    hashes = events.select(list(EVENT_SCHEMA)).hash_rows()
    ordered = np.sort(hashes.to_numpy())
    repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    if not len(repeated):
        return np.zeros(0, dtype=np.int64)
    candidates = np.flatnonzero(hashes.is_in(pl.Series(repeated).implode()).to_numpy())
    same = events.select(list(EVENT_SCHEMA))[candidates]
    later = ~same.select(pl.struct(pl.all()).is_first_distinct()).to_series().to_numpy()
    return candidates[later]


def _later_of(frame: pl.DataFrame, *group: str) -> np.ndarray:
    """Row numbers in ``frame`` of all but the earliest event (by day, then order) per group."""
    first = pl.col("_i").sort_by("day", "_i").first().over(*group)
    later = frame.with_row_index("_i").filter(pl.col("_i") != first)
    return later["_i"].to_numpy()


def _take_from_catalogue(subs: pl.DataFrame, catalogue: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Submissions with the catalogue's due day and weight, and how many of them differed."""
    on = ["module", "presentation", "assessment_id"]
    cat = catalogue.select(*on, pl.col("due_day").alias("_due"), pl.col("weight").alias("_w"))
    joined = subs.join(cat, on=on, how="left", maintain_order="left")
    differs = (pl.col("due_day").is_not_null() & (pl.col("due_day") != pl.col("_due"))) | (
        pl.col("weight").is_not_null() & (pl.col("weight") != pl.col("_w"))
    )
    changed = int(joined.select(differs.fill_null(True).sum()).item())
    taken = joined.with_columns(due_day=pl.col("_due"), weight=pl.col("_w")).drop("_due", "_w")
    return taken, changed


def _unregistered_after(marks: _Marks, kind: np.ndarray, behaviour: np.ndarray) -> np.ndarray:
    """Positions of behaviour events dated after their enrolment's (first) unregistration."""
    _, unreg = marks.rows(kind == _KIND["unregistration"], *KEY, "day")
    if unreg.is_empty():
        return np.zeros(0, dtype=np.int64)
    unreg = unreg.rename({"day": "_unreg"})
    # Only students who ever withdrew can have such events: a cheap filter before the join.
    withdrew = marks.mask(pl.col("student_id").is_in(unreg["student_id"].implode()))
    rows, events = marks.rows(behaviour & withdrew, *KEY, "day")
    after = events.join(unreg, on=list(KEY), how="left", maintain_order="left").select(
        (pl.col("day") > pl.col("_unreg")).fill_null(False)
    )
    return rows[after.to_series().to_numpy()]


def clean_events(log: EventLog) -> CleanResult:
    """Apply every cleaning rule to ``log``; see the module docstring for the rules.

    Events keep their input order; ``removed`` holds the removed events as they came in.

    Args:
        log: the event log as read, ``(n_events, 13)`` events plus its catalogue.

    Returns:
        A :class:`CleanResult`: the cleaned log (``n_events - removed`` events), the report
        (counts per rule, checked so that ``events in - removed = events out``) and the removed
        events with a ``reason`` column.

    Raises:
        DataError: the counts do not add up (a bug in a rule, never bad input).
    """
    events = log.events
    report = CleaningReport(events_in=events.height)
    marks = _Marks(events, report)
    kind = events["event_type"].to_physical().fill_null(_NO_KIND).to_numpy()
    assessment = np.isin(kind, [_KIND[t] for t in ASSESSMENT_EVENT_TYPES])
    registration = np.isin(kind, [_KIND["registration"], _KIND["unregistration"]])

    marks.remove("unmapped_event_type", kind >= _KIND["other"])
    marks.remove("missing_key", marks.mask(pl.any_horizontal(pl.col(*KEY, "day").is_null())))
    marks.remove("duplicate", _later_copies(events))
    marks.remove(
        "missing_assessment_id", assessment & marks.mask(pl.col("assessment_id").is_null())
    )
    rows, subs = marks.rows(assessment, *KEY, "assessment_id", "day")
    marks.remove("duplicate_submission", rows[_later_of(subs, *KEY, "assessment_id")])
    rows, regs = marks.rows(registration, *KEY, "event_type", "day")
    marks.remove("duplicate_registration", rows[_later_of(regs, *KEY, "event_type")])

    # Values change only on submissions and exams: work them out on those rows alone.
    sub_rows, subs = marks.rows(
        assessment,
        "module",
        "presentation",
        "assessment_id",
        "event_type",
        "due_day",
        "weight",
        "score",
    )
    catalogue = _clean_catalogue(log, subs, report)
    subs, report.counts["catalogue_mismatch"] = _take_from_catalogue(subs, catalogue)
    out_of_range = ~pl.col("score").is_between(SCORE_MIN, SCORE_MAX)
    report.counts["score_out_of_range"] += int(subs.select(out_of_range.sum()).item())
    subs = subs.with_columns(score=pl.when(out_of_range).then(None).otherwise(pl.col("score")))
    report.counts["missing_score"] += subs["score"].null_count()

    banked = marks.mask(pl.col("banked"))
    behaviour = (assessment | (kind == _KIND["activity"])) & ~banked
    marks.remove("after_unregistration", _unregistered_after(marks, kind, behaviour))
    before_start = marks.mask(pl.col("day") < 0)
    marks.count("banked", assessment & banked)
    marks.count("before_start", behaviour & before_start)
    marks.count("registration_before_start", (kind == _KIND["registration"]) & before_start)

    kept = marks.kept
    changed = {
        name: events[name].scatter(sub_rows, subs[name]) for name in ("due_day", "weight", "score")
    }
    cleaned = events.with_columns(**changed).filter(pl.Series(kept))
    del changed
    report.events_out = cleaned.height
    if report.events_in - report.removed != report.events_out:
        raise DataError(
            f"cleaning lost events: {report.events_in} in, {report.removed} removed, "
            f"{report.events_out} out"
        )
    gone = ~kept
    reasons = np.asarray(list(RULES), dtype=object)[marks.reason[gone].astype(np.int64) - 1]
    removed = events.filter(pl.Series(gone)).with_columns(
        pl.Series("reason", reasons, dtype=pl.String)
    )
    return CleanResult(EventLog(cleaned, catalogue, log.presentations), report, removed)
