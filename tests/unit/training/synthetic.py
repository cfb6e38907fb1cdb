"""Synthetic students with a known structure, for fast training tests (no seed data needed).

A numeric ``score`` (0-100) rises with study time and support and falls with absences; the
``grade`` is score binned (A >= 80, B >= 65, C >= 50, F below) with a little label noise, so a
profile can derive the grade from the score like GradeClass from GPA.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from studentops.datasets.profile import Profile, parse_profile
from studentops.datasets.validation import validate
from studentops.training.model import StudentModel

COLUMNS: dict[str, Any] = {
    "sid": {"type": "integer", "min": 0},
    "study": {"type": "number", "min": 0, "max": 40},
    "absences": {"type": "integer", "min": 0, "max": 60},
    "support": {"type": "category", "categories": [0, 1, 2, 3, 4]},
    "track": {"type": "category", "categories": ["arts", "science", "trade"]},
    "gender": {
        "type": "category",
        "categories": ["f", "m"],
        "labels": {"f": "female", "m": "male"},
    },
    "school": {"type": "category", "categories": [f"s{i}" for i in range(8)]},
    "year": {"type": "integer", "min": 2000, "max": 2100},
    "score": {"type": "number", "min": 0, "max": 100, "nullable": True},
    "grade": {"type": "category", "categories": ["A", "B", "C", "F"]},
}

TARGETS: dict[str, dict[str, Any]] = {
    "multiclass": {
        "column": "grade",
        "task": "multiclass",
        "at_risk": ["F"],
        "derive": {"source": "score", "edges": [50, 65, 80], "classes": ["F", "C", "B", "A"]},
    },
    "binary": {"column": "grade", "task": "binary", "positive": "F", "negative_label": "pass"},
    "regression": {"column": "score", "task": "regression", "at_risk_below": 50},
}


def make_profile(task: str = "multiclass", **extra: Any) -> Profile:
    leaks = ["score"] if task == "binary" else (["grade"] if task == "regression" else [])
    data = {
        "name": f"synthetic-{task}",
        "id": "sid",
        "columns": COLUMNS,
        "target": TARGETS[task],
        "leaks": leaks,
        "sensitive": ["gender"],
        "group": "school",
        "period": "year",
        **extra,
    }
    return parse_profile(data)


def make_raw(n: int = 600, seed: int = 0, noise: float = 6.0) -> pd.DataFrame:
    """Rows as a file would hold them (then validated by the fixtures)."""
    rng = np.random.default_rng(seed)
    study = rng.uniform(0, 30, n).round(1)
    absences = rng.integers(0, 30, n)
    support = rng.integers(0, 5, n)
    track = rng.choice(["arts", "science", "trade"], n)
    gender = rng.choice(["f", "m"], n)
    score = (
        (
            45
            + 1.1 * study
            - 0.9 * absences
            + 3.0 * support
            + np.where(track == "science", 4, 0)
            + rng.normal(0, noise, n)
        )
        .clip(0, 100)
        .round(1)
    )
    grade = np.select([score >= 80, score >= 65, score >= 50], ["A", "B", "C"], "F")
    flip = rng.random(n) < 0.03
    grade[flip] = rng.choice(["A", "B", "C", "F"], int(flip.sum()))
    return pd.DataFrame(
        {
            "sid": np.arange(n),
            "study": study,
            "absences": absences,
            "support": support,
            "track": track,
            "gender": gender,
            "school": rng.choice([f"s{i}" for i in range(8)], n),
            "year": rng.choice([2019, 2020, 2021, 2022], n),
            "score": score,
            "grade": grade,
        }
    )


def make_frame(profile: Profile, n: int = 600, seed: int = 0) -> pd.DataFrame:
    result = validate(make_raw(n, seed), profile)
    assert result.rejected == 0
    return result.valid


FAST = ("logistic_regression", "lightgbm")


def quick_model(
    profile: Profile,
    frame: pd.DataFrame,
    algorithms: tuple[str, ...] = FAST,
    *,
    metric: str | None = None,
    seed: int = 0,
) -> StudentModel:
    """A model from each algorithm's default configuration, without Optuna (fast, exact)."""
    from studentops.training.search import cross_validate, prepare_search_data
    from studentops.training.spaces import base_algorithm
    from studentops.training.train import build_model

    encoder, data = prepare_search_data(frame, profile, metric=metric, seed=seed)
    cands = [cross_validate(data, a, base_algorithm(a).default) for a in algorithms]
    model, _ = build_model(profile, encoder, data, cands)
    return model


def all_members_model(
    profile: Profile, frame: pd.DataFrame, algorithms: tuple[str, ...]
) -> StudentModel:
    """Every algorithm kept as an equal-weight member (to test each kind of member)."""
    from studentops.training.search import cross_validate, prepare_search_data
    from studentops.training.spaces import base_algorithm

    encoder, data = prepare_search_data(frame, profile)
    members = [cross_validate(data, a, base_algorithm(a).default).member for a in algorithms]
    return StudentModel(
        profile=profile,
        encoder=encoder,
        members=members,
        weights=[1 / len(members)] * len(members),
        metric=data.metric.name,
        cv_score=0.0,
        reference=np.nanmedian(data.X, axis=0),
    )
