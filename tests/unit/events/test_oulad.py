"""The OULAD adapter on a tiny made-up folder."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from studentops.errors import DataError
from studentops.events.oulad import read_oulad
from studentops.events.schema import EVENT_SCHEMA, EventLog


def test_reads_every_table_into_events(tiny_oulad: Path) -> None:
    log, students = read_oulad(tiny_oulad)
    assert dict(log.events.schema) == EVENT_SCHEMA
    counts = dict(log.events["event_type"].cast(pl.String).value_counts().iter_rows())
    assert counts == {"registration": 3, "unregistration": 1, "submission": 6}
    banked = log.events.filter(pl.col("banked"))
    assert banked.select("student_id", "assessment_id", "day").row(0) == ("13", "1", -2)
    # The exam has no date in OULAD: kept as missing here, dated by cleaning.
    assert log.assessments.filter(pl.col("assessment_type") == "Exam")["due_day"][0] is None
    assert log.presentations is not None and log.presentations["length_days"][0] == 100
    assert students.columns[:3] == ["student_id", "module", "presentation"]
    assert students["final_result"].to_list() == ["Pass", "Withdrawn", "Fail"]


def test_missing_registration_day_stays_an_event(tiny_oulad: Path) -> None:
    log, _ = read_oulad(tiny_oulad)
    reg = log.events.filter(
        (pl.col("event_type") == "registration") & (pl.col("student_id") == "13")
    )
    assert reg.height == 1 and reg["day"][0] is None


def test_missing_table_is_a_clear_error(tiny_oulad: Path) -> None:
    (tiny_oulad / "studentAssessment.csv").unlink()
    with pytest.raises(DataError, match="studentAssessment.csv is missing"):
        read_oulad(tiny_oulad)


def test_click_log_becomes_activity_events(tiny_oulad: Path) -> None:
    (tiny_oulad / "studentVle.csv").write_text(
        "code_module,code_presentation,id_student,id_site,date,sum_click\n"
        "AAA,2013J,11,100,-3,4\nAAA,2013J,11,100,5,2\n",
        encoding="utf-8",
    )
    log, _ = read_oulad(tiny_oulad)
    act = log.events.filter(pl.col("event_type") == "activity")
    assert act.select("day", "clicks", "resource_id", "activity_type").rows() == [
        (-3, 4, "100", "resource"),
        (5, 2, "100", "resource"),
    ]


def test_build_derives_a_catalogue_when_none_is_given() -> None:
    events = pl.DataFrame(
        {
            "student_id": ["a", "b"],
            "module": ["M", "M"],
            "presentation": ["P", "P"],
            "day": [3, 4],
            "event_type": ["submission", "submission"],
            "assessment_id": ["x", "x"],
            "due_day": [5, 5],
            "weight": [10.0, 10.0],
        }
    )
    log = EventLog.build(events)
    assert log.assessments.select("assessment_id", "due_day", "weight").rows() == [("x", 5, 10.0)]


def test_an_event_table_without_a_day_is_rejected() -> None:
    with pytest.raises(DataError, match="day"):
        EventLog.build(pl.DataFrame({"student_id": ["a"], "event_type": ["activity"]}))
