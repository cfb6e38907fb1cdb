"""A made-up LMS export mapped onto the event schema by a YAML file."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from studentops.errors import DataError
from studentops.events.cleaning import clean_events
from studentops.events.mapping import load_events
from studentops.events.weekly import build_weekly_features

EXPORT = """user;course;term;action;when;item;grade;due;weight;count
u1;MATH1;2024A;enrolled;2024-08-20 10:00:00;;;;;
u1;MATH1;2024A;page_view;2024-09-03 09:00:00;;;;;3
u1;MATH1;2024A;assignment_submitted;2024-09-20 23:00:00;hw1;15;14;50
u2;MATH1;2024A;enrolled;2024-09-01 10:00:00;;;;;
u2;MATH1;2024A;login;2024-09-02 10:00:00;;;;;
u2;MATH1;2024A;dropped;2024-09-10 10:00:00;;;;;
"""

MAPPING = """
columns:
  student_id: user
  module: course
  presentation: term
  event_type: action
  timestamp: when
  assessment_id: item
  score: grade
  due_day: due
  weight: weight
  clicks: count
event_types:
  registration: [enrolled]
  unregistration: [dropped]
  submission: [assignment_submitted]
  activity: [page_view]
timestamp_format: "%Y-%m-%d %H:%M:%S"
starts: {"2024A": 2024-09-02}
score_max: 20
"""


@pytest.fixture
def export(tmp_path: Path) -> tuple[Path, Path]:
    data = tmp_path / "export.csv"
    data.write_text(EXPORT, encoding="utf-8")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")
    return data, mapping


def test_export_maps_onto_the_schema(export: tuple[Path, Path]) -> None:
    log = load_events(*export)
    ev = log.events
    assert ev["event_type"].cast(pl.String).to_list() == [
        "registration",
        "activity",
        "submission",
        "registration",
        "other",
        "unregistration",
    ]
    assert ev["day"].to_list() == [-13, 1, 18, -1, 0, 8]
    sub = ev.filter(pl.col("event_type") == "submission").row(0, named=True)
    assert (sub["score"], sub["due_day"], sub["weight"]) == (75.0, 14, 50.0)
    assert log.assessments.select("assessment_id", "due_day").rows() == [("hw1", 14)]


def test_unmapped_types_are_counted_not_lost(export: tuple[Path, Path]) -> None:
    result = clean_events(load_events(*export))
    assert result.report.counts["unmapped_event_type"] == 1
    features = build_weekly_features(result.log, None, [3])
    u1 = features.filter(pl.col("student_id") == "u1").row(0, named=True)
    assert (u1["n_late"], u1["score_mean"], u1["clicks"]) == (1, 75.0, 3)


def test_a_constant_fills_an_absent_column(tmp_path: Path, export: tuple[Path, Path]) -> None:
    data, _ = export
    mapping = tmp_path / "constant.yaml"
    mapping.write_text(
        MAPPING.replace("  presentation: term\n", "").replace(
            "event_types:", "constants: {presentation: '2024A'}\nevent_types:"
        ),
        encoding="utf-8",
    )
    assert load_events(data, mapping).events["presentation"].unique().to_list() == ["2024A"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("  timestamp: when\n", ""), "give a 'day' or a 'timestamp'"),
        (("submission:", "submitted:"), "unknown event type"),
        (("  score: grade\n", "  score: nope\n"), "no column"),
        (('starts: {"2024A": 2024-09-02}\n', ""), "needs 'start' or 'starts'"),
    ],
)
def test_bad_mappings_say_what_is_wrong(
    tmp_path: Path, export: tuple[Path, Path], change: tuple[str, str], message: str
) -> None:
    data, _ = export
    mapping = tmp_path / "bad.yaml"
    mapping.write_text(MAPPING.replace(*change), encoding="utf-8")
    with pytest.raises(DataError, match=message):
        load_events(data, mapping)


def test_unreadable_numbers_are_an_error(tmp_path: Path, export: tuple[Path, Path]) -> None:
    data, mapping = export
    data.write_text(EXPORT.replace(";15;", ";fifteen;"), encoding="utf-8")
    with pytest.raises(DataError, match="'grade'.*not numbers"):
        load_events(data, mapping)
