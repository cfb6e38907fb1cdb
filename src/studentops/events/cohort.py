"""Features relative to the cohort so far and module base rates from earlier presentations.

A score of 55 means little on its own in week 5: the first assessment of one module is easy and
of another hard. What carries the signal early is where a student stands *within the same module
presentation at the same cut-off*, and how often students of that module ended at risk in
presentations that had finished before this one began.

Both kinds stay leak-free by construction:

* cohort features at week ``w`` are functions of the week-``w`` rows of the same (module,
  presentation) only, which :func:`studentops.events.weekly.build_weekly_features` builds from
  events dated before ``7w``. Another student's later events cannot reach them either;
* base rates of presentation ``P`` use only presentations of the same module that had *ended*
  before ``P`` started (OULAD runs overlap: 2013J ends in mid-2014, after 2014B has begun, so
  "earlier code" is not enough), and their outcome, plus their own week-``w`` withdrawal flag.

The property test in ``tests/unit/events/test_weekly.py`` checks the first kind with random
events after the cut-off; ``test_cohort.py`` checks the second with altered outcomes.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

import polars as pl

from studentops.errors import DataError

COHORT = ("module", "presentation", "week")
"""The cohort of a row: the same module presentation at the same cut-off week."""

RELATIVE_TO_COHORT = (
    "score_mean",
    "weighted_score",
    "share_submitted",
    "tma_score_mean",
    "cma_score_mean",
)
"""Weekly features compared with the cohort (difference from its mean)."""

RANKED_IN_COHORT = ("weighted_score", "score_mean", "clicks", "clicks_last_4_weeks")
"""Weekly features ranked within the cohort (percentile rank); activity ones when present."""

COHORT_FEATURES: dict[str, str] = {
    **{
        f"{name}_vs_cohort": f"{name} minus its cohort mean (same units)"
        for name in RELATIVE_TO_COHORT
    },
    **{
        f"{name}_pct": f"percentile rank of {name} in the cohort, (0, 1] (null when {name} is)"
        for name in RANKED_IN_COHORT
    },
    "cohort_score_mean": "mean score_mean of the cohort (how hard the module has been so far)",
    "cohort_withdrawn_share": "share of the cohort already withdrawn at the cut-off",
}
"""Columns :func:`add_cohort_features` adds (the ``clicks`` ranks only with activity)."""

BASE_RATE_FEATURES: dict[str, str] = {
    "module_prior_enrolments": "enrolments of the module in presentations ended before this one "
    "started",
    "module_prior_at_risk_rate": "share of those that ended at risk (null without any)",
    "module_prior_active_at_risk_rate": "share at risk among those still enrolled at the same "
    "cut-off week (null without any)",
}
"""Columns :func:`add_base_rates` adds."""

OULAD_AT_RISK = ("Fail", "Withdrawn")
"""OULAD ``final_result`` values counted as at risk (the ``oulad-pass`` profile's mapping)."""

DEFAULT_LENGTH_DAYS = 270
"""Presentation length assumed when the log gives none: OULAD's longest is 269 days."""

_OULAD_CODE = re.compile(r"^(\d{4})([A-Z])$")
_START_MONTH = {"B": 2, "J": 10}  # OULAD: B starts in February, J in October (Kuzilek et al.)


def presentation_order(code: str) -> tuple[int, int, str]:
    """A sort key putting presentation codes in time order.

    OULAD codes (``2013B``: year and a letter, B = February, J = October) sort by year then
    start month; other codes sort after them, as text.

    Args:
        code: a presentation code.

    Returns:
        ``(0, year * 12 + month, code)`` for an OULAD code, ``(1, 0, code)`` otherwise.
    """
    start = presentation_start(code)
    if start is None:
        return (1, 0, code)
    return (0, start.year * 12 + start.month, code)


def presentation_start(code: str) -> dt.date | None:
    """The first day of an OULAD presentation (``2014B`` -> 2014-02-01), None if not OULAD.

    OULAD gives only the start month (Kuzilek et al. 2017, B = February, J = October); the
    first of the month is assumed.
    """
    match = _OULAD_CODE.match(code)
    if match is None or match.group(2) not in _START_MONTH:
        return None
    return dt.date(int(match.group(1)), _START_MONTH[match.group(2)], 1)


def add_cohort_features(features: pl.DataFrame) -> pl.DataFrame:
    """Add :data:`COHORT_FEATURES` to a weekly feature table.

    Args:
        features: rows of :func:`studentops.events.weekly.build_weekly_features`, one per
            (enrolment, week), ``(n_rows, n_columns)``; must hold ``module``, ``presentation``,
            ``week`` and ``score_mean``.

    Returns:
        ``features`` with the new columns appended, same rows and order. Differences are in
        the feature's units (score points, shares); ranks are in (0, 1] (average rank of ties
        divided by the non-null count of the cohort).

    Raises:
        DataError: a required column is missing.
    """
    need = [*COHORT, "score_mean", "withdrawn"]
    absent = [c for c in need if c not in features.columns]
    if absent:
        raise DataError(f"weekly features lack column(s) {', '.join(absent)}")
    group = list(COHORT)
    exprs: list[pl.Expr] = []
    for name in RELATIVE_TO_COHORT:
        if name in features.columns:
            col = pl.col(name)
            exprs.append((col - col.mean().over(group)).alias(f"{name}_vs_cohort"))
    for name in RANKED_IN_COHORT:
        if name in features.columns:
            col = pl.col(name).cast(pl.Float64)
            rank = col.rank("average").over(group) / col.count().over(group)
            exprs.append(rank.alias(f"{name}_pct"))
    exprs.append(pl.col("score_mean").mean().over(group).alias("cohort_score_mean"))
    exprs.append(
        pl.col("withdrawn").cast(pl.Float64).mean().over(group).alias("cohort_withdrawn_share")
    )
    return features.with_columns(exprs)


def add_base_rates(
    features: pl.DataFrame,
    students: pl.DataFrame | None,
    presentations: pl.DataFrame | None = None,
    *,
    outcome: str = "final_result",
    at_risk: Sequence[str] = OULAD_AT_RISK,
) -> pl.DataFrame:
    """Add :data:`BASE_RATE_FEATURES`: the module's at-risk rates in finished presentations.

    A presentation ``Q`` counts for ``P`` (same module) when ``Q`` ended before ``P`` started:
    start from :func:`presentation_start`, end = start + its ``length_days`` (from
    ``presentations``, else :data:`DEFAULT_LENGTH_DAYS`). Codes that are not OULAD-shaped have
    no known dates, so their rates stay null (and their enrolment count 0).

    Args:
        features: weekly rows with ``module``, ``presentation``, ``student_id``, ``week`` and
            ``withdrawn``, ``(n_rows, n_columns)``; rows of every presentation the rates may
            draw on must be present.
        students: the static table with ``outcome``; None (or no ``outcome`` column) adds the
            columns as nulls / 0.
        presentations: ``module, presentation, length_days`` (the log's ``presentations``).
        outcome: the outcome column of ``students``.
        at_risk: outcome values counted as at risk.

    Returns:
        ``features`` with the three columns appended, same rows and order; rates in [0, 1].

    Raises:
        DataError: a required column is missing from ``features``.
    """
    key = ["student_id", "module", "presentation"]
    need = [*key, "week", "withdrawn"]
    absent = [c for c in need if c not in features.columns]
    if absent:
        raise DataError(f"weekly features lack column(s) {', '.join(absent)}")
    names = list(BASE_RATE_FEATURES)
    if students is None or outcome not in students.columns:
        return features.with_columns(
            pl.lit(0, dtype=pl.Int32).alias(names[0]),
            pl.lit(None, dtype=pl.Float64).alias(names[1]),
            pl.lit(None, dtype=pl.Float64).alias(names[2]),
        )
    text = [pl.col(c).cast(pl.String) for c in key]
    labels = students.filter(pl.col(outcome).is_not_null()).select(
        *text, pl.col(outcome).cast(pl.String).is_in(list(at_risk)).alias("_risk")
    )
    per = (
        features.select(*text, "week", "withdrawn")
        .join(labels, on=key, how="inner")
        .group_by("module", "presentation", "week")
        .agg(
            pl.len().alias("_n"),
            pl.col("_risk").sum().alias("_n_risk"),
            (~pl.col("withdrawn")).sum().alias("_n_active"),
            (pl.col("_risk") & ~pl.col("withdrawn")).sum().alias("_n_active_risk"),
        )
    )
    pairs = _finished_before(features, presentations)
    rates = (
        pairs.join(per.rename({"presentation": "_earlier"}), on=["module", "_earlier"], how="inner")
        .group_by("module", "presentation", "week")
        .agg(pl.col("_n", "_n_risk", "_n_active", "_n_active_risk").sum())
        .select(
            "module",
            "presentation",
            "week",
            pl.col("_n").cast(pl.Int32).alias(names[0]),
            (pl.col("_n_risk") / pl.col("_n")).alias(names[1]),
            pl.when(pl.col("_n_active") > 0)
            .then(pl.col("_n_active_risk") / pl.col("_n_active"))
            .alias(names[2]),
        )
    )
    joined = (
        features.select(
            pl.col("module").cast(pl.String), pl.col("presentation").cast(pl.String), "week"
        )
        .join(rates, on=["module", "presentation", "week"], how="left", maintain_order="left")
        .select(pl.col(names[0]).fill_null(0), *names[1:])
    )
    return features.with_columns(joined)


def _finished_before(features: pl.DataFrame, presentations: pl.DataFrame | None) -> pl.DataFrame:
    """(module, presentation, _earlier): ``_earlier`` ended before ``presentation`` started."""
    pres = features.select(
        pl.col("module").cast(pl.String), pl.col("presentation").cast(pl.String)
    ).unique()
    lengths: dict[tuple[str, str], int] = {}
    if presentations is not None and "length_days" in presentations.columns:
        for m, p, n in presentations.select(
            pl.col("module").cast(pl.String),
            pl.col("presentation").cast(pl.String),
            "length_days",
        ).iter_rows():
            if n is not None:
                lengths[(m, p)] = int(n)
    rows = []
    pairs = list(pres.iter_rows())
    for module, code in pairs:
        start = presentation_start(code)
        if start is None:
            continue
        for other_module, other in pairs:
            other_start = presentation_start(other)
            if other_module != module or other_start is None:
                continue
            length = lengths.get((other_module, other), DEFAULT_LENGTH_DAYS)
            if other_start + dt.timedelta(days=length) <= start:
                rows.append((module, code, other))
    return pl.DataFrame(
        rows,
        schema={"module": pl.String, "presentation": pl.String, "_earlier": pl.String},
        orient="row",
    )
