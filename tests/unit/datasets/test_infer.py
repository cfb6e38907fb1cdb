from __future__ import annotations

import numpy as np
import pandas as pd

from studentops.datasets.infer import infer_profile
from studentops.datasets.validation import validate


def test_infer_draft_validates_its_own_data() -> None:
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame(
        {
            "student_id": [f"S{i:04d}" for i in range(n)],
            "hours": rng.uniform(0, 30, n).round(2),
            "absences": rng.integers(0, 40, n),
            "school": rng.choice(["north", "south", "east"], n),
            "notes": [f"free text {i}" for i in range(n)],
            "final_result": rng.choice(["pass", "fail"], n),
        }
    ).astype(str)
    frame.loc[3, "hours"] = ""
    prof = infer_profile(frame, name="draft")
    assert prof.id == "student_id"
    assert prof.target.column == "final_result"
    assert prof.task == "binary"
    assert prof.columns["hours"].type == "number" and prof.columns["hours"].nullable
    assert prof.columns["absences"].type == "integer"
    assert prof.columns["school"].type == "category"
    assert prof.columns["notes"].type == "text"
    assert validate(frame, prof).rejected == 0


def test_infer_regression_target_override() -> None:
    frame = pd.DataFrame({"a": ["1", "2", "3"] * 20, "score": [str(i) for i in range(60)]})
    prof = infer_profile(frame, name="r", target="score")
    assert prof.task == "regression"
