from __future__ import annotations

import string

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studentops.datasets.profile import Profile
from studentops.datasets.validation import validate
from studentops.errors import DataError

from .conftest import make_perf_frame


def test_clean_frame_has_no_rejects(perf_frame: pd.DataFrame, perf_profile: Profile) -> None:
    result = validate(perf_frame, perf_profile)
    assert result.accepted == 1000
    assert result.rejected == 0
    assert result.valid["Absences"].dtype == float
    assert set(result.valid["Gender"].unique()) <= {0, 1}


def test_exactly_the_37_broken_rows_are_rejected(
    perf_frame: pd.DataFrame, perf_profile: Profile
) -> None:
    frame = perf_frame.copy()
    rng = np.random.default_rng(7)
    broken = rng.choice(np.arange(1, 1000), size=37, replace=False)
    kinds = {
        "wrong type": broken[:8],
        "out of range": broken[8:16],
        "unknown category": broken[16:23],
        "missing required value": broken[23:30],
        "duplicate id": broken[30:],
    }
    for i, pos in enumerate(kinds["wrong type"]):
        frame.loc[pos, ["Age", "StudyTimeWeekly"][i % 2]] = ["seventeen", "12,5h"][i % 2]
    for i, pos in enumerate(kinds["out of range"]):
        frame.loc[pos, ["Absences", "StudyTimeWeekly"][i % 2]] = ["-3", "400"][i % 2]
    for i, pos in enumerate(kinds["unknown category"]):
        frame.loc[pos, ["Ethnicity", "Gender"][i % 2]] = ["9", "x"][i % 2]
    for i, pos in enumerate(kinds["missing required value"]):
        frame.loc[pos, ["Tutoring", "Absences"][i % 2]] = ["", None][i % 2]
    for pos in kinds["duplicate id"]:
        frame.loc[pos, "StudentID"] = frame.loc[0, "StudentID"]

    result = validate(frame, perf_profile)

    assert result.rejected == 37
    assert result.accepted == 963
    assert set(result.rejects["row"]) == {int(p) + 1 for p in broken}
    counts = result.reasons
    assert counts["wrong type"] == 8
    assert counts["out of range"] == 8
    assert counts["unknown category"] == 7
    assert counts["missing required value"] == 7
    assert counts["duplicate id"] == 7
    dup = result.rejects[result.rejects["reason"].str.startswith("duplicate id")]
    assert (dup["reason"] == "duplicate id (first at row 1)").all()
    # the first occurrence of the duplicated id is kept
    assert 0 in result.valid.index


def test_reject_records_carry_value_and_column(perf_profile: Profile) -> None:
    frame = make_perf_frame(5)
    frame.loc[2, "Age"] = "abc"
    result = validate(frame, perf_profile)
    row = result.rejects.iloc[0]
    assert (row["row"], row["column"], row["value"]) == (3, "Age", "abc")
    assert row["reason"] == "wrong type (expected integer)"


def test_non_integral_value_in_integer_column(perf_profile: Profile) -> None:
    frame = make_perf_frame(3)
    frame.loc[1, "Absences"] = "2.5"
    result = validate(frame, perf_profile)
    assert result.rejects["reason"].tolist() == ["wrong type (expected integer)"]


def test_missing_target_and_unknown_class(perf_profile: Profile) -> None:
    frame = make_perf_frame(4)
    frame.loc[0, ["GradeClass", "GPA"]] = None
    frame.loc[1, "GradeClass"] = "7"
    frame.loc[2, "GradeClass"] = None  # GPA present: the profile's bins fill it in
    result = validate(frame, perf_profile)
    reasons = dict(zip(result.rejects["row"], result.rejects["reason"], strict=True))
    assert reasons == {1: "missing target", 2: "unknown category"}
    assert 2 in result.valid.index


def test_target_derived_when_column_absent(perf_profile: Profile) -> None:
    frame = make_perf_frame(50).drop(columns="GradeClass")
    result = validate(frame, perf_profile)
    assert result.accepted == 50
    y = perf_profile.target_values(result.valid)
    gpa = result.valid["GPA"].astype(float)
    assert (y[gpa >= 3.5] == 0).all() and (y[gpa < 2.0] == 4).all()


def test_scoring_needs_no_target(perf_profile: Profile) -> None:
    frame = make_perf_frame(10).drop(columns=["GradeClass", "GPA"])
    result = validate(frame, perf_profile, require_target=False)
    assert result.accepted == 10
    with pytest.raises(DataError, match="no target"):
        validate(frame, perf_profile)


def test_missing_required_column_is_file_level(perf_profile: Profile) -> None:
    frame = make_perf_frame(10).drop(columns=["Absences"])
    with pytest.raises(DataError, match="missing required column.*Absences"):
        validate(frame, perf_profile)


def test_single_column_means_wrong_delimiter(perf_profile: Profile) -> None:
    frame = make_perf_frame(3)
    joined = frame.apply(lambda r: ";".join(r), axis=1).to_frame(";".join(frame.columns))
    with pytest.raises(DataError, match="wrong delimiter"):
        validate(joined, perf_profile)


def test_extra_columns_are_ignored_with_a_warning(perf_profile: Profile) -> None:
    frame = make_perf_frame(3).assign(Nickname="x")
    result = validate(frame, perf_profile)
    assert result.accepted == 3
    assert any("Nickname" in w for w in result.warnings)
    assert "Nickname" not in result.valid.columns


cell = st.one_of(
    st.none(),
    st.text(alphabet=string.printable, max_size=6),
    st.integers(-1000, 1000).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), rows=st.integers(1, 25))
def test_no_row_is_ever_lost(data: st.DataObject, rows: int, perf_profile: Profile) -> None:
    """Whatever garbage the cells hold, accepted + rejected == rows, and no exception."""
    frame = make_perf_frame(rows, seed=rows)
    columns = data.draw(st.lists(st.sampled_from(list(frame.columns)), max_size=6, unique=True))
    for col in columns:
        frame[col] = data.draw(st.lists(cell, min_size=rows, max_size=rows))
    result = validate(frame, perf_profile)
    assert result.accepted + result.rejected == rows
    assert set(result.valid.index).isdisjoint(set(result.rejects["row"] - 1))
    if len(result.valid):
        y = perf_profile.target_values(result.valid)
        assert y.notna().all()
        for name in ("Age", "Absences", "StudyTimeWeekly"):
            col = perf_profile.columns[name]
            vals = result.valid[name].astype(float)
            assert (vals >= col.min).all() and (vals <= col.max).all()


def test_derived_target_need_not_be_declared(perf_profile: Profile) -> None:
    """A profile may declare only the source of a derived target (GPA), not the target itself."""
    data = perf_profile.model_dump()
    del data["columns"]["GradeClass"]
    prof = Profile.model_validate(data)
    frame = make_perf_frame(20)
    assert validate(frame.drop(columns="GradeClass"), prof).accepted == 20
    frame.loc[3, "GradeClass"] = None
    frame.loc[3, "GPA"] = None
    result = validate(frame, prof)
    assert result.rejects[["row", "reason"]].values.tolist() == [[4, "missing target"]]
