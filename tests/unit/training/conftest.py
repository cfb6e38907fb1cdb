"""Fixtures: synthetic profiles and validated frames (see synthetic.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from studentops.datasets.profile import Profile

from .synthetic import make_frame, make_profile


@pytest.fixture
def multiclass_profile() -> Profile:
    return make_profile("multiclass")


@pytest.fixture
def binary_profile() -> Profile:
    return make_profile("binary")


@pytest.fixture
def regression_profile() -> Profile:
    return make_profile("regression")


@pytest.fixture
def multiclass_frame(multiclass_profile: Profile) -> pd.DataFrame:
    return make_frame(multiclass_profile)


@pytest.fixture
def binary_frame(binary_profile: Profile) -> pd.DataFrame:
    return make_frame(binary_profile)


@pytest.fixture
def regression_frame(regression_profile: Profile) -> pd.DataFrame:
    return make_frame(regression_profile)
