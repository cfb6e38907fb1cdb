"""Drift specs: parsing, one-line errors, and the measured effect on a generated cohort."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from studentops.datasets.drift_injection import (
    Drift,
    DriftError,
    check_drift,
    mix_shares,
    parse_drift,
)
from studentops.datasets.profile import load_profile
from studentops.datasets.synthetic import generate_cohort
from studentops.datasets.validation import validate
from studentops.errors import StudentOpsError

ROWS = 20_000


@pytest.fixture(scope="module")
def profile():
    return load_profile("student-performance")


@pytest.fixture(scope="module")
def base(profile) -> pd.DataFrame:
    return generate_cohort(profile, ROWS, seed=3)


# -- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "kind", "amount"),
    [
        ("Absences:+40%", "scale", 1.4),
        ("Absences:-10%", "scale", 0.9),
        ("Absences:+5", "add", 5.0),
        ("Absences:-2.5", "add", -2.5),
        (" Absences : +5 ", "add", 5.0),
        ("StudyTimeWeekly:missing=30%", "missing", 0.3),
        ("StudyTimeWeekly:missing=0.25", "missing", 0.25),
    ],
)
def test_parse_numeric_and_missing(spec: str, kind: str, amount: float) -> None:
    drift = parse_drift(spec)
    assert drift.kind == kind
    assert drift.column == spec.split(":")[0].strip()
    assert drift.amount == pytest.approx(amount)


def test_parse_mix() -> None:
    drift = parse_drift("Gender:mix=0:0.8,1:20%")
    assert drift.kind == "mix"
    assert drift.shares == (("0", 0.8), ("1", 0.2))


def test_column_names_with_colons_and_spaces() -> None:
    assert parse_drift("a:b:+5").column == "a:b"
    drift = parse_drift("Curricular units 1st sem (approved):-20%")
    assert drift.column == "Curricular units 1st sem (approved)"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("Absences+40%", "expected COLUMN:CHANGE"),
        ("Absences:+4x%", "bad number '4x'"),
        ("Absences:+", "bad number ''"),
        ("Absences:times=2", "expected COLUMN:CHANGE"),
        ("Absences:missing=130%", "between 0 and 1"),
        ("Absences:missing=abc", "bad number 'abc'"),
        ("Absences:-150%", "flip the sign"),
        ("Gender:mix=0:0.8,1:0.8", "add up to 1.6"),
        ("Gender:mix=0", "CATEGORY:SHARE"),
        ("Gender:mix=0:0.5,0:0.5", "given twice"),
    ],
)
def test_parse_errors_are_one_clear_line(spec: str, message: str) -> None:
    with pytest.raises(DriftError) as info:
        parse_drift(spec)
    text = str(info.value)
    assert message in text
    assert "\n" not in text
    assert isinstance(info.value, StudentOpsError)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("Absense:+5", "unknown column 'Absense'"),
        ("Gender:+5", "only numeric columns shift"),
        ("Absences:mix=0:1", "mix= needs categories"),
        ("Gender:mix=2:0.5", "unknown category '2' of 'Gender'"),
        ("Gender:mix=0:0.5,1:0.4", "add up to 0.9, not 1"),
        ("StudentID:+5", "is the id column"),
        ("GradeClass:mix=0:0.5", "derived from 'GPA'"),
    ],
)
def test_errors_against_the_profile(profile, spec: str, message: str) -> None:
    with pytest.raises(DriftError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_drift(spec, profile)


def test_generate_checks_drifts(profile) -> None:
    with pytest.raises(DriftError, match="unknown column"):
        generate_cohort(profile, 10, seed=0, drifts=[Drift("x:+1", "x", "add", 1.0)])
    with pytest.raises(DriftError, match="unknown category"):
        generate_cohort(profile, 10, seed=0, drifts=["Ethnicity:mix=7:1"])


def test_check_drift_passes_a_good_one(profile) -> None:
    drift = parse_drift("Absences:+5")
    assert check_drift(drift, profile) is drift


def test_mix_spreads_the_rest_in_proportion() -> None:
    drift = parse_drift("c:mix=a:0.5")
    shares = mix_shares(["a", "b", "c"], np.array([0.2, 0.6, 0.2]), drift)
    assert shares == pytest.approx([0.5, 0.375, 0.125])


# -- effect on a generated cohort ------------------------------------------------------------


def test_scale_shifts_the_mean_and_stays_in_range(profile, base) -> None:
    drifted = generate_cohort(profile, ROWS, seed=3, drifts=["Absences:+40%"])
    ratio = drifted["Absences"].mean() / base["Absences"].mean()
    assert ratio == pytest.approx(1.4, abs=0.02)
    assert drifted["Absences"].max() <= profile.columns["Absences"].max
    assert (drifted["Absences"] % 1 == 0).all()
    assert validate(drifted, profile).rejected == 0


def test_add_is_clipped_to_the_range(profile, base) -> None:
    drifted = generate_cohort(profile, ROWS, seed=3, drifts=["StudyTimeWeekly:-5"])
    assert drifted["StudyTimeWeekly"].min() == 0
    gap = base["StudyTimeWeekly"].mean() - drifted["StudyTimeWeekly"].mean()
    assert 4 < gap < 5
    assert validate(drifted, profile).rejected == 0


def test_the_outcome_follows_a_shifted_feature(profile, base) -> None:
    """Absences drive GPA down in the real data; more absences must mean more F grades."""
    drifted = generate_cohort(profile, ROWS, seed=3, drifts=["Absences:+40%"])
    share_f = (drifted["GradeClass"] == 4).mean()
    assert share_f > (base["GradeClass"] == 4).mean() + 0.05


def test_shifting_the_source_re_derives_the_target(profile) -> None:
    drifted = generate_cohort(profile, 5_000, seed=3, drifts=["GPA:-0.5"])
    base = generate_cohort(profile, 5_000, seed=3)
    assert drifted["GPA"].mean() < base["GPA"].mean() - 0.4
    assert (drifted["GradeClass"] == 4).mean() > (base["GradeClass"] == 4).mean()


def test_mix_sets_category_shares(profile) -> None:
    drifted = generate_cohort(profile, ROWS, seed=3, drifts=["Tutoring:mix=1:0.8"])
    assert (drifted["Tutoring"] == 1).mean() == pytest.approx(0.8, abs=0.015)
    assert validate(drifted, profile).rejected == 0


def test_mix_on_a_classification_target_is_a_label_shift() -> None:
    profile = load_profile("uci-dropout")
    drifted = generate_cohort(profile, ROWS, seed=3, drifts=["Target:mix=Dropout:0.6"])
    shares = drifted["Target"].value_counts(normalize=True)
    assert shares["Dropout"] == pytest.approx(0.6, abs=0.015)
    base = generate_cohort(profile, ROWS, seed=3)
    before = base["Target"].value_counts(normalize=True)
    # The other classes keep their proportion to each other.
    ratio_before = before["Graduate"] / before["Enrolled"]
    ratio_after = shares["Graduate"] / shares["Enrolled"]
    assert ratio_after == pytest.approx(ratio_before, rel=0.15)


def test_missing_on_a_nullable_column_passes_validation(profile) -> None:
    drifted = generate_cohort(profile, ROWS, seed=3, drifts=["GPA:missing=30%"])
    assert drifted["GPA"].isna().mean() == pytest.approx(0.3, abs=0.015)
    assert validate(drifted, profile).rejected == 0


def test_missing_on_a_required_column_makes_rejects(profile) -> None:
    """Documented: blanking a non-nullable column produces rows validation rejects."""
    drifted = generate_cohort(profile, ROWS, seed=3, drifts=["StudyTimeWeekly:missing=30%"])
    share = drifted["StudyTimeWeekly"].isna().mean()
    assert share == pytest.approx(0.3, abs=0.015)
    result = validate(drifted, profile)
    assert result.rejected == int(drifted["StudyTimeWeekly"].isna().sum())
    assert set(result.reasons) == {"missing required value"}


def test_missing_on_integer_and_category_columns_keeps_their_values(profile) -> None:
    drifted = generate_cohort(
        profile, 2_000, seed=3, drifts=["Absences:missing=10%", "Ethnicity:missing=10%"]
    )
    assert str(drifted["Absences"].dtype) == "Int64"
    assert drifted["Ethnicity"].dropna().isin([0, 1, 2, 3]).all()


def test_drifts_compose_in_order(profile, base) -> None:
    drifted = generate_cohort(
        profile, ROWS, seed=3, drifts=["Absences:+40%", "Absences:+2", "Tutoring:mix=1:0.5"]
    )
    expected = np.clip(np.round(base["Absences"] * 1.4) + 2, 0, 200)
    assert drifted["Absences"].mean() == pytest.approx(expected.mean(), rel=0.03)
    assert (drifted["Tutoring"] == 1).mean() == pytest.approx(0.5, abs=0.015)
