"""The audit and its card tables on every built-in profile (synthetic cohorts: no seed data)."""

from __future__ import annotations

import itertools

import pytest

from studentops.datasets.profile import builtin_profile_names, load_profile
from studentops.datasets.synthetic import generate_cohort
from studentops.datasets.validation import validate
from studentops.registry.card_content import fairness_tables
from studentops.training.fairness import fairness_report

from .synthetic import quick_model


@pytest.mark.parametrize("name", builtin_profile_names())
def test_audit_on_every_seed_profile(name: str) -> None:
    profile = load_profile(name)
    cohort = generate_cohort(profile, rows=700, seed=4)
    valid = validate(cohort.astype(str).replace({"nan": None, "<NA>": None}), profile).valid
    train, test = valid.iloc[:400], valid.iloc[400:]
    algorithm = "ridge" if profile.task == "regression" else "logistic_regression"
    model = quick_model(profile, train, (algorithm,))
    report = fairness_report(model, test)
    assert set(report["attributes"]) == set(profile.sensitive)
    pairs = {f"{a} × {b}" for a, b in itertools.combinations(profile.sensitive, 2)}
    assert set(report["intersections"]) == pairs
    for table in report["attributes"].values():
        assert sum(g["count"] for g in table["groups"].values()) == len(test)  # none hidden
    tables = [b for b in fairness_tables(report) if b.kind == "table"]
    assert len(tables) == len(profile.sensitive) + len(pairs)
