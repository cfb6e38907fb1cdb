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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import polars as pl

from studentops.errors import DataError
from studentops.events.schema import (
    ASSESSMENT_EVENT_TYPES,
    EVENT_SCHEMA,
    KEY,
    EventLog,
    enrolment_hash,
)

Action = Literal["removed", "changed", "flagged", "noted"]

RULES: dict[str, tuple[Action, str]] = {
    "unmapped_event_type": ("removed", "source event type not named in the mapping"),
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
_IS_ASSESSMENT = pl.col("event_type").is_in(ASSESSMENT_EVENT_TYPES)
_IS_BEHAVIOUR = pl.col("event_type").is_in([*ASSESSMENT_EVENT_TYPES, "activity"])


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
    """The cleaned log, the report, and every removed event with its reason."""

    log: EventLog
    report: CleaningReport
    removed: pl.DataFrame


class _Cleaner:
    """Applies rules in order, moving removed events aside with their reason."""

    def __init__(self, events: pl.DataFrame, report: CleaningReport) -> None:
        self.events = events
        self.report = report
        self.removed: list[pl.DataFrame] = []

    def remove(self, rule: str, mask: pl.Expr) -> None:
        drop = self.events.select(mask.fill_null(False)).to_series()
        n = int(drop.sum())
        if n:
            kept = [*EVENT_SCHEMA, "_order"]
            gone = self.events.filter(drop).select(kept)
            self.removed.append(gone.with_columns(pl.lit(rule).alias("reason")))
            self.events = self.events.filter(~drop)
        self.report.counts[rule] += n

    def count(self, rule: str, mask: pl.Expr) -> None:
        self.report.counts[rule] += int(self.events.select(mask.fill_null(False).sum()).item())


def _clean_catalogue(log: EventLog, events: pl.DataFrame, report: CleaningReport) -> pl.DataFrame:
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
    seen = (
        events.filter(_IS_ASSESSMENT)
        .group_by("module", "presentation", "assessment_id", maintain_order=True)
        .agg(
            pl.when(pl.col("event_type").first() == "exam")
            .then(pl.lit("Exam"))
            .otherwise(pl.lit("coursework"))
            .alias("assessment_type"),
            pl.col("due_day").drop_nulls().min().alias("due_day"),
            pl.col("weight").drop_nulls().min().alias("weight"),
        )
    )
    unknown = seen.join(cat, on=["module", "presentation", "assessment_id"], how="anti")
    report.counts["unknown_assessment"] += unknown.height
    cat = pl.concat([cat, unknown.select(cat.columns)], how="vertical_relaxed")
    report.catalogue_out = cat.height
    return cat


def _orders(frame: pl.DataFrame) -> pl.Expr:
    """An expression selecting the events whose ``_order`` is in ``frame``."""
    return pl.col("_order").is_in(frame["_order"].implode())


def _exact_duplicates(events: pl.DataFrame) -> pl.DataFrame:
    """Later copies of an identical event: hash every row, then confirm candidates exactly."""
    columns = list(EVENT_SCHEMA)
    row_hash = pl.struct(*columns).hash(seed=0)
    candidates = events.filter(row_hash.is_duplicated())
    return candidates.filter(~pl.struct(*columns).is_first_distinct()).select("_order")


def _later_results(events: pl.DataFrame) -> pl.DataFrame:
    """Second and later results for one assessment (the earliest, then first listed, is kept)."""
    subs = events.filter(_IS_ASSESSMENT).select(*KEY, "assessment_id", "day", "_order")
    first = pl.col("_order").sort_by("day", "_order").first().over(*KEY, "assessment_id")
    return subs.filter(pl.col("_order") != first).select("_order")


def _later_registrations(events: pl.DataFrame) -> pl.DataFrame:
    regs = events.filter(pl.col("event_type").is_in(["registration", "unregistration"]))
    first = pl.col("_order").sort_by("day", "_order").first().over(*KEY, "event_type")
    return regs.filter(pl.col("_order") != first).select("_order")


def _after_unregistration(events: pl.DataFrame) -> pl.DataFrame:
    unreg = events.filter(pl.col("event_type") == "unregistration").select(
        *enrolment_hash(), pl.col("day").alias("_unreg_day")
    )
    if unreg.is_empty():
        return pl.DataFrame(schema={"_order": pl.UInt32})
    behaviour = events.filter(_IS_BEHAVIOUR & ~pl.col("banked").fill_null(False)).select(
        *enrolment_hash(), "day", "_order"
    )
    joined = behaviour.join(unreg, on=["_h1", "_h2"], how="inner")
    return joined.filter(pl.col("day") > pl.col("_unreg_day")).select("_order")


def clean_events(log: EventLog) -> CleanResult:
    """Apply every cleaning rule to ``log``; see the module docstring for the rules.

    Events keep their input order. Expensive rules are worked out on the small subset they
    concern (submissions, registrations) and applied to the whole log by row number.
    """
    report = CleaningReport(events_in=log.events.height)
    c = _Cleaner(log.events.with_row_index("_order"), report)

    c.remove("unmapped_event_type", pl.col("event_type") == "other")
    c.remove("missing_key", pl.any_horizontal(pl.col(*KEY, "day").is_null()))
    c.remove("duplicate", _orders(_exact_duplicates(c.events)))
    c.remove("missing_assessment_id", _IS_ASSESSMENT & pl.col("assessment_id").is_null())
    c.remove("duplicate_submission", _orders(_later_results(c.events)))
    c.remove("duplicate_registration", _orders(_later_registrations(c.events)))

    catalogue = _clean_catalogue(log, c.events.filter(_IS_ASSESSMENT), report)
    c.events = _take_from_catalogue(c, catalogue)

    out_of_range = _IS_ASSESSMENT & ~pl.col("score").is_between(SCORE_MIN, SCORE_MAX)
    c.count("score_out_of_range", out_of_range)
    c.events = c.events.with_columns(
        pl.when(out_of_range).then(None).otherwise(pl.col("score")).alias("score")
    )
    c.count("missing_score", _IS_ASSESSMENT & pl.col("score").is_null())
    c.remove("after_unregistration", _orders(_after_unregistration(c.events)))
    not_banked = ~pl.col("banked").fill_null(False)
    c.count("banked", _IS_ASSESSMENT & ~not_banked)
    c.count("before_start", _IS_BEHAVIOUR & not_banked & (pl.col("day") < 0))
    c.count(
        "registration_before_start", (pl.col("event_type") == "registration") & (pl.col("day") < 0)
    )

    events = c.events.drop("_order")
    report.events_out = events.height
    if report.events_in - report.removed != report.events_out:
        raise DataError(
            f"cleaning lost events: {report.events_in} in, {report.removed} removed, "
            f"{report.events_out} out"
        )
    removed_schema = {**log.events.schema, "reason": pl.String()}
    removed = (
        pl.concat(c.removed, how="vertical_relaxed").sort("_order").drop("_order")
        if c.removed
        else pl.DataFrame(schema=removed_schema)
    )
    return CleanResult(EventLog(events, catalogue, log.presentations), report, removed)


def _take_from_catalogue(c: _Cleaner, catalogue: pl.DataFrame) -> pl.DataFrame:
    """Give submissions the catalogue's due day and weight, counting the ones that differ."""
    cat = catalogue.select(
        "module",
        "presentation",
        "assessment_id",
        pl.col("due_day").alias("_cat_due"),
        pl.col("weight").alias("_cat_weight"),
    )
    subs = c.events.filter(_IS_ASSESSMENT).select(
        "_order", "module", "presentation", "assessment_id", "due_day", "weight"
    )
    subs = subs.join(
        cat, on=["module", "presentation", "assessment_id"], how="left", maintain_order="left"
    )
    differs = (pl.col("due_day").is_not_null() & (pl.col("due_day") != pl.col("_cat_due"))) | (
        pl.col("weight").is_not_null() & (pl.col("weight") != pl.col("_cat_weight"))
    )
    c.report.counts["catalogue_mismatch"] += int(subs.select(differs.fill_null(True).sum()).item())
    # Assessment rows keep their relative order, so their positions take the new values.
    positions = c.events.select(pl.arg_where(_IS_ASSESSMENT)).to_series()
    return c.events.with_columns(
        c.events["due_day"].scatter(positions, subs["_cat_due"]).alias("due_day"),
        c.events["weight"].scatter(positions, subs["_cat_weight"]).alias("weight"),
    )
