"""A toy binary profile and synthetic students with a real signal, for fast registry tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

TOY_PROFILE = """\
name: toy-dropout
description: Synthetic students for registry tests.
id: student_id
columns:
  student_id: {type: integer, min: 0}
  age: {type: integer, min: 15, max: 60}
  attendance: {type: number, min: 0, max: 1}
  grade: {type: number, min: 0, max: 20, nullable: true}
  course: {type: category, categories: [arts, science, law]}
  scholarship: {type: category, categories: [0, 1]}
  gender: {type: category, categories: [f, m]}
  dropout: {type: category, categories: ["yes", "no"]}
target:
  column: dropout
  task: binary
  positive: "yes"
sensitive: [gender]
"""


# The same students, predicting the grade (regression) with "at risk" below 8.
TOY_REGRESSION_PROFILE = TOY_PROFILE.replace("name: toy-dropout", "name: toy-grade").replace(
    'target:\n  column: dropout\n  task: binary\n  positive: "yes"\n',
    "target:\n  column: grade\n  task: regression\n  at_risk_below: 8\nleaks: [dropout]\n",
)


def write_toy_profile(folder: Path) -> Path:
    path = folder / "toy-dropout.yaml"
    path.write_text(TOY_PROFILE, encoding="utf-8")
    return path


def make_toy_frame(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """Students whose dropout depends on attendance, grade and scholarship (learnable)."""
    rng = np.random.default_rng(seed)
    attendance = rng.uniform(0, 1, rows)
    grade = rng.uniform(0, 20, rows)
    scholarship = rng.integers(0, 2, rows)
    logit = 2.5 - 4.0 * attendance - 0.15 * grade - 0.8 * scholarship + rng.normal(0, 0.7, rows)
    dropout = np.where(logit > 0, "yes", "no")
    grade_text = grade.round(2).astype(str).astype(object)
    grade_text[rng.uniform(0, 1, rows) < 0.05] = ""
    return pd.DataFrame(
        {
            "student_id": np.arange(rows),
            "age": rng.integers(17, 40, rows),
            "attendance": attendance.round(3),
            "grade": grade_text,
            "course": rng.choice(["arts", "science", "law"], rows),
            "scholarship": scholarship,
            "gender": rng.choice(["f", "m"], rows),
            "dropout": dropout,
        }
    )


def write_toy_data(folder: Path, rows: int = 400, seed: int = 0) -> Path:
    path = folder / "toy.csv"
    make_toy_frame(rows, seed).to_csv(path, index=False)
    return path
