from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from studentops.datasets.profile import builtin_profile_names, load_profile, parse_profile
from studentops.errors import ProfileError

MINIMAL = {
    "name": "tiny",
    "id": "sid",
    "columns": {
        "sid": {"type": "integer"},
        "hours": {"type": "number", "min": 0, "max": 80},
        "sex": {"type": "category", "categories": ["f", "m"]},
        "passed": {"type": "category", "categories": ["yes", "no"]},
    },
    "target": {"column": "passed", "task": "binary", "positive": "no"},
    "sensitive": ["sex"],
}


def test_builtins_load_and_exclude_leaks_and_sensitive() -> None:
    assert {"student-performance", "uci-dropout", "uci-dropout-binary", "exams-math"} <= set(
        builtin_profile_names()
    )
    perf = load_profile("student-performance")
    assert "GPA" not in perf.feature_columns
    assert "StudentID" not in perf.feature_columns
    assert "Gender" not in perf.feature_columns
    assert perf.class_order() == [0, 1, 2, 3, 4]
    binary = load_profile("uci-dropout-binary")
    assert binary.class_order() == ["Not dropout", "Dropout"]


def test_sensitive_as_features_opt_in() -> None:
    data = dict(MINIMAL, sensitive_as_features=True)
    assert "sex" in parse_profile(data).feature_columns
    assert "sex" not in parse_profile(MINIMAL).feature_columns


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"leaks": ["nope"]}, "leaks: column 'nope' is not in 'columns'"),
        ({"target": {"column": "passed", "task": "binary"}}, "needs 'positive'"),
        ({"target": {"column": "x", "task": "regression"}}, "target.column: 'x'"),
        ({"name": "Bad Name"}, "name"),
        ({"columns": {"sid": {"type": "category"}}}, "needs 'categories'"),
        ({"colour": 1}, "colour"),
    ],
)
def test_invalid_profiles_give_one_clear_line(patch: dict, message: str) -> None:
    with pytest.raises(ProfileError) as info:
        parse_profile({**MINIMAL, **patch}, origin="p.yaml")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_binary_target_maps_everything_else_to_negative() -> None:
    prof = load_profile("uci-dropout-binary")
    y = prof.target_values(pd.DataFrame({"Target": ["Dropout", "Graduate", "Enrolled", "??"]}))
    assert y.tolist() == ["Dropout", "Not dropout", "Not dropout", None]
    three = load_profile("uci-dropout")
    assert three.target_values(pd.DataFrame({"Target": ["Dropout", "??"]})).tolist() == [
        "Dropout",
        None,
    ]


def test_derivation_bins() -> None:
    perf = load_profile("student-performance")
    rule = perf.target.derive
    assert rule is not None
    assert rule.apply([3.9, 3.5, 3.2, 2.7, 2.0, 1.99, float("nan")]).tolist() == [
        0,
        0,
        1,
        2,
        3,
        4,
        None,
    ]


def test_profile_file_and_yaml_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(MINIMAL))
    prof = load_profile(str(path))
    again = parse_profile(yaml.safe_load(prof.to_yaml()))
    assert again == prof


def test_unknown_profile_lists_builtins() -> None:
    with pytest.raises(ProfileError, match="built-in: .*student-performance"):
        load_profile("nope")
