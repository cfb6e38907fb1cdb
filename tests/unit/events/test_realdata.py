"""The pipeline on the real OULAD seed copy (skipped when ../shared is absent)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from studentops.datasets.profile import load_profile
from studentops.datasets.validation import validate
from studentops.events.cleaning import clean_events
from studentops.events.frames import build_features, to_profile_frame
from studentops.events.oulad import read_oulad

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def oulad(shared_data: Path) -> Path:
    folder = shared_data / "oulad"
    if not folder.is_dir():
        pytest.skip("no OULAD copy in ../shared/data")
    return folder


def test_real_oulad_cleans_with_known_counts(oulad: Path) -> None:
    log, students = read_oulad(oulad)
    result = clean_events(log)
    counts = result.report.counts
    assert students.height == 21_333
    assert counts["missing_key"] == 36  # registrations without a date
    assert counts["banked"] == 1_129
    assert counts["missing_score"] == 131
    assert counts["missing_due_day"] == 6  # exams without a date
    assert counts["after_unregistration"] == 215
    assert result.report.events_in - result.report.removed == result.log.events.height


def test_real_oulad_features_fit_the_profile(oulad: Path) -> None:
    log, students = read_oulad(oulad)
    features = build_features(clean_events(log).log, students, [4, 20])
    assert features.height == 2 * 21_333
    later = features.filter(pl.col("week") == 20)
    assert later["n_due"].mean() > features.filter(pl.col("week") == 4)["n_due"].mean()
    profile = load_profile("oulad-pass")
    frame = to_profile_frame(features.filter(pl.col("week") == 4), profile)
    checked = validate(frame, profile)
    assert checked.rejected == 0, checked.summary()
    assert frame["clicks"].isna().all()  # no click log in the seed copy: activity is empty
    at_risk = profile.target_values(frame) == "at risk"
    assert 0.5 < at_risk.mean() < 0.56  # Fail + Withdrawn = 11,405 of 21,333
