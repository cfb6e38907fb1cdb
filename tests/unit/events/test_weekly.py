"""Weekly features: hand-computed values, agreement with pandas, and no leakage."""

from __future__ import annotations

import math

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studentops.errors import DataError
from studentops.events.cleaning import clean_events
from studentops.events.cohort import BASE_RATE_FEATURES, COHORT_FEATURES
from studentops.events.frames import build_features
from studentops.events.oulad import log_from_tables
from studentops.events.reference import feature_differences, reference_weekly_features
from studentops.events.schema import EventLog
from studentops.events.synthetic import generate_oulad
from studentops.events.weekly import build_weekly_features, feature_names, weeks_arg

from .conftest import catalogue, event_log

CATALOGUE = catalogue(("a1", 10, 20.0), ("a2", 20, 30.0), ("a3", 30, 50.0))


@pytest.fixture(scope="module")
def hand() -> pl.DataFrame:
    """One student: registered on day -30, a1 on time (60), a2 five days late (80), clicks."""
    log = event_log(
        [
            {"student_id": "s", "day": -30, "event_type": "registration"},
            {
                "student_id": "s",
                "day": 8,
                "event_type": "submission",
                "assessment_id": "a1",
                "score": 60.0,
                "due_day": 10,
                "weight": 20.0,
            },
            {
                "student_id": "s",
                "day": 25,
                "event_type": "submission",
                "assessment_id": "a2",
                "score": 80.0,
                "due_day": 20,
                "weight": 30.0,
            },
            {
                "student_id": "s",
                "day": -2,
                "event_type": "activity",
                "clicks": 3,
                "activity_type": "homepage",
            },
            {
                "student_id": "s",
                "day": 1,
                "event_type": "activity",
                "clicks": 2,
                "activity_type": "forumng",
            },
            {
                "student_id": "s",
                "day": 1,
                "event_type": "activity",
                "clicks": 1,
                "activity_type": "Mod_Forum",
            },
            {
                "student_id": "s",
                "day": 15,
                "event_type": "activity",
                "clicks": 4,
                "activity_type": "oucontent",
            },
        ],
        CATALOGUE,
    )
    return build_weekly_features(log, None, [1, 2, 3, 4, 5])


def _row(frame: pl.DataFrame, week: int) -> dict[str, object]:
    return frame.filter(pl.col("week") == week).row(0, named=True)


def _check(row: dict[str, object], expected: dict[str, object]) -> None:
    for name, want in expected.items():
        got = row[name]
        if want is None:
            assert got is None, name
        elif isinstance(want, float):
            assert got is not None and math.isclose(got, want, rel_tol=1e-9), (name, got, want)
        else:
            assert got == want, (name, got, want)


def test_week_1_sees_only_the_first_seven_days(hand: pl.DataFrame) -> None:
    _check(
        _row(hand, 1),
        {
            "cutoff_day": 7,
            "registered": True,
            "days_registered_before_start": 30.0,
            "withdrawn": False,
            "n_due": 0,
            "n_submitted": 0,
            "n_missed": 0,
            "share_missed": None,
            "score_mean": None,
            "weighted_score": None,
            "days_since_last_submission": None,
            "n_activity": 3,
            "clicks": 6,
            "active_days": 2,
            "clicks_per_week": 3.0,
            "clicks_last_week": 3,
            "clicks_last_4_weeks": 6,
            "days_since_last_activity": 6.0,
            "clicks_before_start": 3,
            "active_weeks_share": 1.0,
            "clicks_homepage": 3,
            "clicks_forum": 3,  # "Mod_Forum" is a forum too: case and prefix ignored
            "clicks_content": 0,
            "clicks_quiz": 0,
        },
    )


def test_engagement_features_by_week(hand: pl.DataFrame) -> None:
    """Week 2 saw no activity (share 1/2); week 3 sees the day-15 content clicks (2 of 3)."""
    _check(_row(hand, 2), {"active_weeks_share": 0.5, "clicks_content": 0, "clicks_forum": 3})
    _check(_row(hand, 3), {"active_weeks_share": 2 / 3, "clicks_content": 4})
    _check(_row(hand, 5), {"active_weeks_share": 2 / 5, "clicks_before_start": 3})


def test_week_2_one_assessment_due_and_submitted(hand: pl.DataFrame) -> None:
    _check(
        _row(hand, 2),
        {
            "n_due": 1,
            "n_submitted": 1,
            "n_missed": 0,
            "share_submitted": 1.0,
            "n_late": 0,
            "share_late": 0.0,
            "score_min": 60.0,
            "score_max": 60.0,
            "score_mean": 60.0,
            "score_std": None,
            "score_trend": None,
            "weighted_score": 60.0,
            "mean_days_early": 2.0,
            "days_since_last_submission": 6.0,
            "clicks_per_week": 1.5,
            "clicks_last_week": 0,
            "days_since_last_activity": 13.0,
        },
    )


def test_week_3_a_due_assessment_not_yet_submitted_is_missed(hand: pl.DataFrame) -> None:
    _check(
        _row(hand, 3),
        {
            "n_due": 2,
            "n_submitted": 1,
            "n_missed": 1,
            "share_submitted": 0.5,
            "share_missed": 0.5,
            "weighted_score": 24.0,
            "days_since_last_submission": 13.0,
            "clicks": 10,
            "active_days": 3,
            "clicks_per_week": 7 / 3,
            "clicks_last_week": 4,
        },
    )


def test_week_4_late_submission_counts(hand: pl.DataFrame) -> None:
    _check(
        _row(hand, 4),
        {
            "n_submitted": 2,
            "n_missed": 0,
            "n_late": 1,
            "share_late": 0.5,
            "score_min": 60.0,
            "score_max": 80.0,
            "score_mean": 70.0,
            "score_std": math.sqrt(200),
            "score_trend": 2.0,
            "weighted_score": 72.0,
            "mean_days_early": -1.5,
            "days_since_last_submission": 3.0,
            "clicks_per_week": 1.75,
            "clicks_last_week": 0,
            "clicks_last_4_weeks": 7,
        },
    )


def test_week_5_third_assessment_missed_counts_zero(hand: pl.DataFrame) -> None:
    _check(
        _row(hand, 5),
        {
            "n_due": 3,
            "n_missed": 1,
            "share_missed": 1 / 3,
            "weighted_score": 36.0,
            "clicks_last_4_weeks": 4,
        },
    )


def test_withdrawal_and_static_columns() -> None:
    log = event_log(
        [
            {"student_id": "s", "day": 3, "event_type": "registration"},
            {"student_id": "s", "day": 9, "event_type": "unregistration"},
        ],
        CATALOGUE,
    )
    students = pl.DataFrame(
        {
            "student_id": ["s", "t"],
            "module": ["M", "M"],
            "presentation": ["P", "P"],
            "gender": ["F", "M"],
        }
    )
    out = build_weekly_features(log, students, [0, 1, 2])
    assert out.height == 6 and out["gender"].to_list() == ["F"] * 3 + ["M"] * 3
    s = out.filter(pl.col("student_id") == "s")
    assert s["registered"].to_list() == [False, True, True]
    assert s["days_registered_before_start"].to_list() == [None, -3.0, -3.0]
    assert s["withdrawn"].to_list() == [False, False, True]
    assert "clicks" not in out.columns  # no activity events, no activity features


def test_bad_weeks_are_rejected() -> None:
    with pytest.raises(DataError):
        build_weekly_features(event_log([], CATALOGUE), None, [-1])
    assert weeks_arg("2,4") == [2, 4]
    assert weeks_arg("2-8:2") == [2, 4, 6, 8]
    with pytest.raises(DataError):
        weeks_arg("two")


def test_same_features_as_the_pandas_reference() -> None:
    log, students = log_from_tables(generate_oulad(150, seed=5, clicks_per_student=40))
    cleaned = clean_events(log).log
    weeks = [0, 1, 2, 3, 4, 7, 15, 30, 38]
    fast = build_weekly_features(cleaned, students, weeks)
    slow = reference_weekly_features(cleaned, students, weeks, activity=True)
    assert fast["student_id"].to_list() == slow["student_id"].tolist()
    assert fast["week"].to_list() == slow["week"].tolist()
    assert feature_differences(fast, slow, feature_names(True)) == {}


# -- leakage: events dated at or after the cut-off never change the week's features ----------
# Every feature a model sees (weekly, progress, activity, cohort and base rates) is checked, over
# two presentations of one module so the cohort and the base rates have something to compare.

STUDENTS = ("a", "b", "c")
PRESENTATIONS = ("2013B", "2014B")
LEAK_CATALOGUE = pl.concat(
    [
        pl.DataFrame(
            {
                "module": "M",
                "presentation": p,
                "assessment_id": ["a1", "a2", "a3"],
                "assessment_type": ["CMA", "TMA", "Exam"],
                "due_day": [10, 20, 30],
                "weight": [20.0, 30.0, 50.0],
            },
            schema_overrides={"due_day": pl.Int32},
        )
        for p in PRESENTATIONS
    ]
)
LEAK_STUDENTS = pl.DataFrame(
    {
        "student_id": [s for _ in PRESENTATIONS for s in STUDENTS],
        "module": "M",
        "presentation": [p for p in PRESENTATIONS for _ in STUDENTS],
        "final_result": ["Pass", "Fail", "Withdrawn", "Pass", "Distinction", "Fail"],
    }
)
LENGTHS = pl.DataFrame({"module": "M", "presentation": PRESENTATIONS, "length_days": [200, 200]})
TYPES = ("registration", "unregistration", "submission", "exam", "activity")
ACTIVITY_TYPES = ("forumng", "quiz", "mod_resource", "homepage", "dataplus", "other", None)


@st.composite
def an_event(draw: st.DrawFn, min_day: int = -20, max_day: int = 80) -> dict[str, object]:
    kind = draw(st.sampled_from(TYPES))
    event: dict[str, object] = {
        "student_id": draw(st.sampled_from(STUDENTS)),
        "module": "M",
        "presentation": draw(st.sampled_from(PRESENTATIONS)),
        "day": draw(st.integers(min_day, max_day)),
        "event_type": kind,
        "assessment_id": None,
        "score": None,
        "banked": None,
        "clicks": None,
        "activity_type": None,
    }
    if kind in ("submission", "exam"):
        event["assessment_id"] = draw(st.sampled_from(("a1", "a2", "a3")))
        event["score"] = draw(st.one_of(st.none(), st.floats(-10, 110).map(round)))
        event["banked"] = draw(st.booleans())
    if kind == "activity":
        event["clicks"] = draw(st.one_of(st.none(), st.integers(1, 9)))
        event["activity_type"] = draw(st.sampled_from(ACTIVITY_TYPES))
    return event


def _features(events: list[dict[str, object]], week: int) -> pl.DataFrame:
    frame = pl.DataFrame(events, schema=EVENT_ROW, orient="row") if events else None
    log = EventLog.build(
        frame if frame is not None else pl.DataFrame(schema=EVENT_ROW), LEAK_CATALOGUE, LENGTHS
    )
    # A later week is built alongside: a feature pooling weeks (a cohort across cut-offs) leaks.
    built = build_features(clean_events(log).log, LEAK_STUDENTS, [week, week + 3], activity=True)
    return built.filter(pl.col("week") == week)


def test_the_leak_test_sees_every_feature() -> None:
    """The property below checks all features, cohort and base rates included."""
    events = [
        {**e, "assessment_id": None, "score": None, "banked": None, "clicks": None,
         "activity_type": None}
        for e in (
            {"student_id": "a", "module": "M", "presentation": "2014B", "day": 1,
             "event_type": "activity"},
        )
    ]  # fmt: skip
    columns = set(_features(events, 3).columns)
    names = set(feature_names(True)) | set(COHORT_FEATURES) | set(BASE_RATE_FEATURES)
    assert names <= columns


EVENT_ROW = {
    "student_id": pl.String,
    "module": pl.String,
    "presentation": pl.String,
    "day": pl.Int32,
    "event_type": pl.String,
    "assessment_id": pl.String,
    "score": pl.Float64,
    "banked": pl.Boolean,
    "clicks": pl.Int32,
    "activity_type": pl.String,
}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    before=st.lists(an_event(), max_size=25),
    week=st.integers(0, 12),
    data=st.data(),
)
def test_events_after_the_cutoff_never_change_the_features(
    before: list[dict[str, object]], week: int, data: st.DataObject
) -> None:
    cut = 7 * week
    baseline = _features(before, week)
    # Add new events dated on or after the cut-off ...
    added = data.draw(st.lists(an_event(min_day=cut, max_day=cut + 60), min_size=1, max_size=10))
    # ... and change every existing event dated on or after it into something else.
    changed = [
        data.draw(an_event(min_day=cut, max_day=cut + 60)) if e["day"] >= cut else e for e in before
    ]
    assert _features(before + added, week).equals(baseline)
    assert _features(changed + added, week).equals(baseline)
