"""Held-out splits and CV folds: disjoint, complete, balanced, no group or period leak."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from studentops.errors import DataError, ProfileError
from studentops.training.split import cv_folds, holdout_split

from .synthetic import make_frame, make_profile


def _check_partition(h, n: int) -> None:
    assert len(np.intersect1d(h.train, h.test)) == 0
    assert sorted(np.r_[h.train, h.test].tolist()) == list(range(n))


def test_stratified_keeps_class_balance(multiclass_profile, multiclass_frame) -> None:
    h = holdout_split(multiclass_frame, multiclass_profile, kind="stratified", seed=42)
    _check_partition(h, len(multiclass_frame))
    y = multiclass_profile.target_values(multiclass_frame).to_numpy()
    share = lambda idx: {c: float(np.mean(y[idx] == c)) for c in "ABCF"}  # noqa: E731
    for c, v in share(h.train).items():
        assert abs(v - share(h.test)[c]) < 0.02
    assert len(h.test) == 120


def test_stratified_matches_protocol_label_coding(binary_profile, binary_frame) -> None:
    """Benchmarks stratify on 0/1 with the positive class as 1: the same rows must come out."""
    y01 = (binary_profile.target_values(binary_frame) == "F").astype(int).to_numpy()
    _, test = train_test_split(np.arange(len(y01)), test_size=0.2, random_state=42, stratify=y01)
    h = holdout_split(binary_frame, binary_profile, seed=42)
    assert sorted(h.test.tolist()) == sorted(test.tolist())


def test_regression_stratified_is_random_shuffle(regression_profile, regression_frame) -> None:
    h = holdout_split(regression_frame, regression_profile, kind="stratified", seed=42)
    _, test = train_test_split(np.arange(len(regression_frame)), test_size=0.2, random_state=42)
    assert h.test.tolist() == test.tolist()
    _check_partition(h, len(regression_frame))


def test_group_split_keeps_groups_whole(multiclass_profile, multiclass_frame) -> None:
    h = holdout_split(multiclass_frame, multiclass_profile, kind="group", seed=1)
    _check_partition(h, len(multiclass_frame))
    schools = multiclass_frame["school"].to_numpy()
    assert not set(schools[h.train]) & set(schools[h.test])


def test_time_split_tests_on_latest_periods(multiclass_profile, multiclass_frame) -> None:
    h = holdout_split(multiclass_frame, multiclass_profile, kind="time")
    _check_partition(h, len(multiclass_frame))
    years = multiclass_frame["year"].to_numpy()
    assert years[h.train].max() < years[h.test].min()
    assert set(years[h.test]) == {2022.0}


def test_group_split_needs_a_group() -> None:
    profile = make_profile("multiclass", group=None)
    with pytest.raises(ProfileError):
        holdout_split(make_frame(profile, n=50), profile, kind="group")
    with pytest.raises(DataError):
        holdout_split(make_frame(profile, n=50), profile, kind="sideways")


def test_cv_folds_partition_and_stratify() -> None:
    y = np.repeat([0, 1, 2], [60, 30, 10])
    folds = cv_folds(y, "multiclass", n_splits=5, seed=0)
    assert len(folds) == 5
    seen = np.concatenate([va for _, va in folds])
    assert sorted(seen.tolist()) == list(range(100))
    for tr, va in folds:
        assert len(np.intersect1d(tr, va)) == 0
        assert np.bincount(y[va]).tolist() == [12, 6, 2]


def test_cv_folds_shrink_for_rare_class() -> None:
    y = np.array([0] * 20 + [1] * 3)
    assert len(cv_folds(y, "binary", n_splits=5)) == 3


def test_cv_folds_respect_groups() -> None:
    rng = np.random.default_rng(0)
    groups = rng.choice(list("abcdefgh"), 200)
    y = rng.integers(0, 2, 200)
    for tr, va in cv_folds(y, "binary", groups=groups):
        assert not set(groups[tr]) & set(groups[va])
