"""Output keys of profiles: label tables and feature groups (docs/serving.md, risk lists)."""

from __future__ import annotations

import pytest

from studentops.datasets.profile import load_profile, parse_profile
from studentops.errors import ProfileError


@pytest.mark.parametrize("name", ["uci-dropout", "uci-dropout-binary"])
def test_uci_profiles_carry_the_published_code_tables(name: str) -> None:
    profile = load_profile(name)
    unlabelled = {
        column: [c for c in col.categories or [] if profile.value_label(column, c) is None]
        for column, col in profile.columns.items()
        if col.type == "category" and column != "Target"
    }
    assert {k: v for k, v in unlabelled.items() if v} == {}
    assert profile.value_label("Course", 9070) == "Communication Design"
    assert profile.value_label("Course", "9500.0") == "Nursing"  # as read from a CSV
    assert profile.value_label("Mother's occupation", 9) == "Unskilled Workers"
    assert profile.value_label("Tuition fees up to date", 0) == "no"
    assert profile.value_label("Application mode", 39) == "Over 23 years old"
    groups = profile.feature_groups
    assert len(groups["2nd-semester curricular units"]) == 6


def test_booleans_read_yes_no_and_plain_values_have_no_label() -> None:
    profile = load_profile("oulad-pass")
    assert profile.value_label("withdrawn", True) == "yes"
    assert profile.value_label("registered", "0") == "no"
    assert profile.value_label("n_due", 3) is None
    assert profile.value_label("presentation_start", "J") == "October"
    assert profile.class_label("at risk") == "at risk"
    grades = load_profile("student-performance")
    assert [grades.class_label(c) for c in (0, 4, 4.0, "3")] == ["A", "F", "F", "D"]


def _profile(groups: dict[str, list[str]]) -> dict[str, object]:
    return {
        "name": "g",
        "columns": {
            "a": {"type": "integer"},
            "b": {"type": "integer"},
            "y": {"type": "category", "categories": [0, 1]},
        },
        "target": {"column": "y", "task": "binary", "positive": 1},
        "feature_groups": groups,
    }


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ({"g": ["a", "nope"]}, "column 'nope' is not in 'columns'"),
        ({"g": ["a"], "h": ["a", "b"]}, "column 'a' is already in group 'g'"),
        ({"g": []}, "list at least one column"),
    ],
)
def test_feature_groups_are_checked(groups: dict[str, list[str]], message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        parse_profile(_profile(groups))
