"""Small valid frames built in code, so unit tests need no data files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from studentops.datasets.profile import Profile, load_profile


@pytest.fixture(scope="session")
def perf_profile() -> Profile:
    return load_profile("student-performance")


def make_perf_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    """Valid rows in the student-performance schema, as a CSV reader would give them (text)."""
    rng = np.random.default_rng(seed)
    gpa = rng.uniform(0, 4, rows)
    grade = np.select([gpa >= 3.5, gpa >= 3.0, gpa >= 2.5, gpa >= 2.0], [0, 1, 2, 3], 4)
    frame = pd.DataFrame(
        {
            "StudentID": np.arange(1001, 1001 + rows),
            "Age": rng.integers(15, 19, rows),
            "Gender": rng.integers(0, 2, rows),
            "Ethnicity": rng.integers(0, 4, rows),
            "ParentalEducation": rng.integers(0, 5, rows),
            "StudyTimeWeekly": rng.uniform(0, 20, rows).round(3),
            "Absences": rng.integers(0, 30, rows),
            "Tutoring": rng.integers(0, 2, rows),
            "ParentalSupport": rng.integers(0, 5, rows),
            "Extracurricular": rng.integers(0, 2, rows),
            "Sports": rng.integers(0, 2, rows),
            "Music": rng.integers(0, 2, rows),
            "Volunteering": rng.integers(0, 2, rows),
            "GPA": gpa.round(4),
            "GradeClass": grade.astype(float),
        }
    )
    return frame.astype(str)


@pytest.fixture
def perf_frame() -> pd.DataFrame:
    return make_perf_frame(1000)
