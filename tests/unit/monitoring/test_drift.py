"""Drift verdicts: independent of sample size, missing shares, unseen categories; properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studentops.monitoring.drift import (
    DriftOptions,
    compare_categorical,
    compare_features,
    compare_numeric,
    verdict,
)
from studentops.monitoring.reference import (
    ReferenceProfile,
    categorical_reference,
    numeric_reference,
)

OPTS = DriftOptions()
RNG = np.random.default_rng(1)
REF_VALUES = RNG.normal(50, 10, 100_000)
REF = numeric_reference(REF_VALUES)
CATS = pd.Series(RNG.choice(["a", "b", "c", "d"], 50_000, p=[0.4, 0.3, 0.2, 0.1]), dtype="str")
CAT_REF = categorical_reference(CATS)


def test_negligible_shift_in_a_million_rows_does_not_alarm() -> None:
    current = RNG.normal(50 + 0.01 * 10, 10, 1_000_000)
    entry = compare_numeric("x", REF, current, OPTS)
    assert not entry.drifted and entry.value < 0.01


def test_real_shift_alarms_and_says_how() -> None:
    entry = compare_numeric("grade", REF, RNG.normal(58, 10, 5_000), OPTS)
    assert entry.drifted and "median" in entry.message and "psi" in entry.message


def test_identical_small_windows_are_too_few_rows() -> None:
    ref = ReferenceProfile("p", 100_000, {"x": REF})
    alarms = 0
    for _ in range(100):
        window = RNG.normal(50, 10, 15)
        features = compare_features(ref, {"x": window}, 15, OPTS)
        result = verdict(features, [], 15, OPTS)
        assert result.status == "too_few_rows"
        alarms += any(f.any_drift for f in features)
    assert alarms == 0


def test_identical_15_row_windows_rarely_alarm_even_when_judged() -> None:
    """100 windows of 15 rows drawn from the reference, statistics forced (no minimum): the
    noise floor alone keeps false alarms at most 5% of windows (the issue's target)."""
    ref = ReferenceProfile("p", 100_000, {"x": REF, "c": CAT_REF})
    forced = DriftOptions(min_rows=1)
    rng = np.random.default_rng(15)
    alarms = 0
    for _ in range(100):
        window = {
            "x": REF_VALUES[rng.integers(0, REF_VALUES.size, 15)],
            "c": CATS.iloc[rng.integers(0, len(CATS), 15)].reset_index(drop=True),
        }
        features = compare_features(ref, window, 15, forced)
        alarms += any(f.any_drift for f in features)
        assert all(f.n == 15 for f in features)  # judged, not skipped
    assert alarms / 100 <= 0.05, f"false-alarm rate {alarms}% on identical 15-row windows"


def test_missing_share_drift() -> None:
    current = RNG.normal(50, 10, 2_000)
    current[:600] = np.nan
    entry = compare_numeric("x", REF, current, OPTS)
    assert entry.missing_drifted and entry.missing_share == pytest.approx(0.3)
    assert "missing values 0% -> 30%" in entry.message


def test_unseen_categories_drift() -> None:
    current = pd.Series(["a"] * 500 + ["b"] * 400 + ["zz"] * 100, dtype="str")
    entry = compare_categorical("c", CAT_REF, current, OPTS)
    assert (
        entry.unseen_drifted
        and entry.unseen_share == pytest.approx(0.1)
        and "'zz'" in entry.message
    )
    same = compare_categorical("c", CAT_REF, CATS.sample(3_000, random_state=2), OPTS)
    assert not same.any_drift


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(min_value=200, max_value=20_000),
    seed=st.integers(min_value=0, max_value=2**31),
)
def test_a_window_from_the_reference_never_alarms(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    window = REF_VALUES[rng.integers(0, REF_VALUES.size, n)]
    assert not compare_numeric("x", REF, window, OPTS).any_drift
    cats = CATS.iloc[rng.integers(0, len(CATS), n)].reset_index(drop=True)
    assert not compare_categorical("c", CAT_REF, cats, OPTS).any_drift


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(min_value=200, max_value=20_000),
    shift_sd=st.floats(min_value=1.0, max_value=5.0),
    seed=st.integers(min_value=0, max_value=2**31),
)
def test_a_shift_well_beyond_the_threshold_always_alarms(
    n: int, shift_sd: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    window = rng.normal(50 + shift_sd * 10, 10, n)
    assert compare_numeric("x", REF, window, OPTS).drifted
    cats = pd.Series(rng.choice(["a", "d"], n, p=[0.1, 0.9]), dtype="str")
    assert compare_categorical("c", CAT_REF, cats, OPTS).drifted


def test_every_numeric_statistic_can_be_chosen() -> None:
    for name in ("psi", "wasserstein", "ks", "jensen_shannon"):
        opts = DriftOptions(numeric_statistic=name)
        assert compare_numeric("x", REF, RNG.normal(60, 10, 3_000), opts).drifted, name
        assert not compare_numeric("x", REF, RNG.normal(50, 10, 3_000), opts).drifted, name
