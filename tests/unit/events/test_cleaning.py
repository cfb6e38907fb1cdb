"""Every cleaning rule, counted on a log built to trip each one."""

from __future__ import annotations

import polars as pl

from studentops.events.cleaning import RULES, clean_events
from studentops.events.schema import EventLog

from .conftest import catalogue


def _log() -> EventLog:
    sub = "submission"
    rows = [
        {"student_id": "s1", "day": -10, "event_type": "registration"},
        {"student_id": "s1", "day": -5, "event_type": "registration"},  # second registration
        {
            "student_id": "s1",
            "day": 8,
            "event_type": sub,
            "assessment_id": "a1",
            "score": 70.0,
            "due_day": 11,
        },  # due day differs from the catalogue's 10
        {
            "student_id": "s1",
            "day": 8,
            "event_type": sub,
            "assessment_id": "a1",
            "score": 70.0,
            "due_day": 11,
        },  # exact copy
        {"student_id": "s1", "day": 12, "event_type": sub, "assessment_id": "a1", "score": 90.0},
        {"student_id": "s1", "day": 3, "event_type": "other"},
        {"student_id": None, "day": 3, "event_type": "activity", "clicks": 1},
        {"student_id": "s1", "day": 9, "event_type": sub, "score": 10.0},  # no assessment id
        {
            "student_id": "s1",
            "day": 41,
            "event_type": sub,
            "assessment_id": "a9",
            "score": 50.0,
            "due_day": 40,
            "weight": 10.0,
        },  # not in the catalogue
        {"student_id": "s2", "day": 5, "event_type": sub, "assessment_id": "a1", "score": -5.0},
        {"student_id": "s2", "day": 20, "event_type": "unregistration"},
        {"student_id": "s2", "day": 25, "event_type": "activity", "clicks": 2},
        {"student_id": "s3", "day": 30, "event_type": sub, "assessment_id": "a2", "score": None},
        {
            "student_id": "s1",
            "day": -1,
            "event_type": sub,
            "assessment_id": "a2",
            "score": 60.0,
            "banked": True,
        },
        {"student_id": "s1", "day": -3, "event_type": "activity", "clicks": 1},
    ]
    events = pl.DataFrame(
        [{"module": "M", "presentation": "P", **r} for r in rows], infer_schema_length=None
    )
    presentations = pl.DataFrame({"module": ["M"], "presentation": ["P"], "length_days": [100]})
    return EventLog.build(events, catalogue(("a1", 10, 50.0), ("a2", None, 50.0)), presentations)


def test_every_rule_is_counted() -> None:
    result = clean_events(_log())
    assert result.report.counts == {
        "unmapped_event_type": 1,
        "missing_key": 1,
        "duplicate": 1,
        "duplicate_submission": 1,
        "missing_assessment_id": 1,
        "duplicate_registration": 1,
        "missing_due_day": 1,
        "unknown_assessment": 1,
        "catalogue_mismatch": 1,
        "score_out_of_range": 1,
        "missing_score": 2,
        "after_unregistration": 1,
        "banked": 1,
        "before_start": 1,
        "registration_before_start": 1,
    }
    assert set(result.report.counts) == set(RULES)


def test_nothing_disappears_without_a_reason() -> None:
    log = _log()
    result = clean_events(log)
    report = result.report
    assert report.events_in == log.events.height == 15
    assert report.events_out == result.log.events.height == 8
    assert result.removed.height == report.removed == 7
    assert sorted(result.removed["reason"].to_list()) == sorted(
        r for r, (action, _) in RULES.items() if action == "removed"
    )


def test_values_are_fixed_as_reported() -> None:
    result = clean_events(_log())
    cat = result.log.assessments
    assert cat.filter(pl.col("assessment_id") == "a2")["due_day"][0] == 100
    assert cat.filter(pl.col("assessment_id") == "a9").select("due_day", "weight").row(0) == (
        40,
        10.0,
    )
    ev = result.log.events
    kept = ev.filter((pl.col("student_id") == "s1") & (pl.col("assessment_id") == "a1"))
    assert kept.select("day", "due_day", "score").rows() == [(8, 10, 70.0)]
    assert (
        ev.filter(pl.col("student_id") == "s2", pl.col("assessment_id") == "a1")["score"][0] is None
    )
    assert ev.filter(pl.col("banked").fill_null(False)).height == 1  # banked is kept
    assert result.report.to_frame().height == len(RULES)


def test_a_clean_log_passes_unchanged() -> None:
    log = EventLog.build(
        pl.DataFrame(
            {
                "student_id": ["a", "a"],
                "module": ["M", "M"],
                "presentation": ["P", "P"],
                "day": [0, 5],
                "event_type": ["registration", "activity"],
            }
        ),
        catalogue(),
    )
    result = clean_events(log)
    assert result.log.events.equals(log.events)
    assert result.report.removed == 0 and result.removed.is_empty()


def test_clicks_on_different_resources_are_not_duplicates() -> None:
    click = {"module": "M", "presentation": "P", "student_id": "a", "day": 3, "clicks": 2}
    events = pl.DataFrame(
        [
            {**click, "event_type": "activity", "resource_id": "page-1"},
            {**click, "event_type": "activity", "resource_id": "page-2"},
            {**click, "event_type": "activity", "resource_id": "page-2"},
            {**click, "event_type": None},
        ]
    )
    result = clean_events(EventLog.build(events, catalogue()))
    assert result.report.counts["duplicate"] == 1
    assert result.report.counts["unmapped_event_type"] == 1  # a missing type is not named
    assert result.log.events["resource_id"].to_list() == ["page-1", "page-2"]
    assert result.removed["reason"].to_list() == ["duplicate", "unmapped_event_type"]
