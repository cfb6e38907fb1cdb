"""Fixtures for API tests: a small real model, an in-memory model source and a started app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from studentops.config import Settings, load_settings
from studentops.datasets.profile import Profile, load_profile
from studentops.datasets.synthetic import generate_cohort
from studentops.datasets.validation import validate

from .helpers import PROFILE, MemorySource, make_client
from .standin import StandInModel


@pytest.fixture(scope="session")
def profile() -> Profile:
    return load_profile(PROFILE)


@pytest.fixture(scope="session")
def cohort(profile: Profile) -> pd.DataFrame:
    return generate_cohort(profile, 1500, seed=3)


@pytest.fixture(scope="session")
def model(profile: Profile, cohort: pd.DataFrame) -> StandInModel:
    valid = validate(cohort, profile).valid
    return StandInModel(profile).fit(valid, profile.target_values(valid))


@pytest.fixture(scope="session")
def model_b(profile: Profile, cohort: pd.DataFrame) -> StandInModel:
    """A second, different model (trained on half the rows) for swap tests."""
    valid = validate(cohort.iloc[:700], profile).valid
    return StandInModel(profile).fit(valid, profile.target_values(valid))


@pytest.fixture
def record(cohort: pd.DataFrame) -> dict[str, Any]:
    """One student as a client would send it (JSON types)."""
    row = cohort.drop(columns=["Target"]).iloc[0].to_dict()
    out = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
    out["student_id"] = "s-0001"
    return out


@pytest.fixture
def records(cohort: pd.DataFrame) -> list[dict[str, Any]]:
    rows = cohort.drop(columns=["Target"]).iloc[:20].to_dict("records")
    out = []
    for i, row in enumerate(rows):
        rec = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        rec["student_id"] = f"s-{i:04d}"
        out.append(rec)
    return out


@pytest.fixture
def source(model: StandInModel) -> MemorySource:
    src = MemorySource()
    src.add("1", model)
    return src


@pytest.fixture
def settings(home: Path) -> Settings:
    return load_settings(serve_profile=PROFILE, reload_interval_s=3600)


@pytest.fixture
def client(settings: Settings, source: MemorySource) -> Iterator[TestClient]:
    with make_client(settings, source) as c:
        yield c
