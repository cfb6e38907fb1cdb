"""Cohort-relative features and module base rates: hand-computed values and no leakage."""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest

from studentops.errors import DataError
from studentops.events.cohort import (
    add_base_rates,
    add_cohort_features,
    presentation_order,
    presentation_start,
)


def _weekly(rows: list[tuple[str, str, str, int, float | None, bool]]) -> pl.DataFrame:
    """(student, module, presentation, week, score_mean, withdrawn) rows."""
    return pl.DataFrame(
        rows,
        schema={
            "student_id": pl.String,
            "module": pl.String,
            "presentation": pl.String,
            "week": pl.Int32,
            "score_mean": pl.Float64,
            "withdrawn": pl.Boolean,
        },
        orient="row",
    )


def test_cohort_features_compare_within_the_same_module_presentation_and_week() -> None:
    frame = _weekly(
        [
            ("a", "M", "2014B", 5, 40.0, False),
            ("b", "M", "2014B", 5, 80.0, False),
            ("c", "M", "2014B", 5, None, True),
            ("a", "M", "2014B", 10, 90.0, False),  # another week: another cohort
            ("d", "N", "2014B", 5, 10.0, False),  # another module: another cohort
        ]
    )
    out = add_cohort_features(frame)
    assert out["score_mean_vs_cohort"].to_list() == [-20.0, 20.0, None, 0.0, 0.0]
    assert out["score_mean_pct"].to_list() == [0.5, 1.0, None, 1.0, 1.0]
    assert out["cohort_score_mean"].to_list() == [60.0, 60.0, 60.0, 90.0, 10.0]
    shares = out["cohort_withdrawn_share"].to_list()
    assert math.isclose(shares[0], 1 / 3) and shares[3:] == [0.0, 0.0]
    with pytest.raises(DataError, match="withdrawn"):
        add_cohort_features(frame.drop("withdrawn"))


def _students(results: dict[tuple[str, str], str]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "student_id": [k[0] for k in results],
            "module": "M",
            "presentation": [k[1] for k in results],
            "final_result": list(results.values()),
        }
    )


FEATURES = _weekly(
    [
        ("a", "M", "2013B", 4, None, False),
        ("b", "M", "2013B", 4, None, True),
        ("c", "M", "2013B", 4, None, False),
        ("d", "M", "2013J", 4, None, False),
        ("e", "M", "2014B", 4, None, False),
    ]
)
LENGTHS = pl.DataFrame(
    {"module": "M", "presentation": ["2013B", "2013J", "2014B"], "length_days": [240, 268, 240]}
)
OUTCOMES = {
    ("a", "2013B"): "Pass",
    ("b", "2013B"): "Withdrawn",
    ("c", "2013B"): "Fail",
    ("d", "2013J"): "Fail",
    ("e", "2014B"): "Pass",
}


def test_base_rates_use_only_presentations_ended_before_the_start() -> None:
    out = add_base_rates(FEATURES, _students(OUTCOMES), LENGTHS)
    row = out.filter(pl.col("presentation") == "2014B").row(0, named=True)
    # 2013B (Feb + 240 days) ended before 2014B began; 2013J (Oct 2013 + 268 days) had not.
    assert row["module_prior_enrolments"] == 3
    assert math.isclose(row["module_prior_at_risk_rate"], 2 / 3)
    assert row["module_prior_active_at_risk_rate"] == 0.5  # a (Pass) and c (Fail) still enrolled
    first = out.filter(pl.col("presentation") == "2013B").row(0, named=True)
    assert first["module_prior_enrolments"] == 0 and first["module_prior_at_risk_rate"] is None


def test_base_rates_ignore_outcomes_not_known_at_the_start() -> None:
    base = add_base_rates(FEATURES, _students(OUTCOMES), LENGTHS)
    unknown = {**OUTCOMES, ("d", "2013J"): "Pass", ("e", "2014B"): "Fail"}
    later = add_base_rates(FEATURES, _students(unknown), LENGTHS)
    mine = pl.col("presentation") == "2014B"
    assert later.filter(mine).equals(base.filter(mine))
    # ... while an outcome that was known does move them (the check above can fail).
    known = {**OUTCOMES, ("a", "2013B"): "Fail"}
    moved = add_base_rates(FEATURES, _students(known), LENGTHS)
    assert moved.filter(mine)["module_prior_at_risk_rate"].item() == 1.0


def test_without_outcomes_the_base_rates_are_empty() -> None:
    out = add_base_rates(FEATURES, None)
    assert out["module_prior_enrolments"].to_list() == [0] * 5
    assert out["module_prior_at_risk_rate"].null_count() == 5


def test_presentation_codes_in_time_order() -> None:
    assert presentation_start("2014B") == dt.date(2014, 2, 1)
    assert presentation_start("2013J") == dt.date(2013, 10, 1)
    assert presentation_start("autumn") is None
    codes = ["2014B", "autumn", "2013J", "2013B"]
    assert sorted(codes, key=presentation_order) == ["2013B", "2013J", "2014B", "autumn"]
