"""Drift messages name categories and classes by the profile's labels, not their codes."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from studentops.datasets.profile import load_profile
from studentops.monitoring.drift import (
    DriftOptions,
    compare_categorical,
    compare_features,
    compare_predictions,
)
from studentops.monitoring.reference import CategoricalReference, ReferenceProfile

OPTS = DriftOptions()
RNG = np.random.default_rng(3)


def _keys(values: list[str], shares: list[float], n: int = 3_000) -> pd.Series:
    return pd.Series(RNG.choice(values, size=n, p=shares), dtype=object)


def test_a_feature_and_the_prediction_are_named_by_their_labels() -> None:
    profile = load_profile("student-performance")
    tutoring = CategoricalReference(["0", "1"], [0.69, 0.31], 0.0, 0.0, 2_000)
    classes = CategoricalReference(
        ["0", "1", "2", "3", "4"], [0.05, 0.1, 0.15, 0.2, 0.5], 0, 0, 2_000
    )
    reference = ReferenceProfile("student-performance", 2_000, {"Tutoring": tutoring}, classes)
    features = compare_features(
        reference, {"Tutoring": _keys(["0", "1"], [0.28, 0.72])}, 3_000, OPTS, profile=profile
    )
    assert features[0].drifted
    # Two categories move by the same amount: either is the largest change, by its label.
    assert re.search(r"largest change '(no|yes)' \([01]\) \d+% -> \d+%", features[0].message)
    assert features[0].details["labels"][:2] == ["no", "yes"]
    predictions = _keys(["0", "1", "2", "3", "4"], [0.02, 0.05, 0.06, 0.16, 0.71])
    (prediction,) = compare_predictions(reference, predictions, None, OPTS, profile=profile)
    assert prediction.drifted and "largest change 'F' (4) 50% -> 7" in prediction.message


def test_without_a_profile_or_a_label_the_code_is_shown() -> None:
    ref = CategoricalReference(["0", "1"], [0.69, 0.31], 0.0, 0.0, 2_000)
    entry = compare_categorical("x", ref, _keys(["0", "1"], [0.28, 0.72]), OPTS)
    assert re.search(r"largest change '[01]' \d+% -> \d+%", entry.message), entry.message
