"""The HTML report is self-contained and names every drifted feature; JSON round-trips."""

from __future__ import annotations

import datetime as dt
import json
import re

import numpy as np
import pandas as pd

from studentops.monitoring.drift import DriftOptions, compare_categorical, compare_numeric, verdict
from studentops.monitoring.reference import categorical_reference, numeric_reference
from studentops.monitoring.report import write_report
from studentops.monitoring.results import CheckResult, MetricValue

RNG = np.random.default_rng(3)


def drifted_result() -> CheckResult:
    opts = DriftOptions()
    ref = numeric_reference(RNG.normal(10, 2, 20_000))
    cats = categorical_reference(pd.Series(RNG.choice(["x", "y"], 20_000), dtype="str"))
    features = [
        compare_numeric("Absences <&>", ref, RNG.normal(14, 2, 1_000), opts),
        compare_numeric("Grade", ref, RNG.normal(10, 2, 1_000), opts),
        compare_categorical(
            "Course", cats, pd.Series(["x"] * 900 + ["z"] * 100, dtype="str"), opts
        ),
    ]
    now = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    return CheckResult(
        profile="p",
        model_name="studentops-p",
        model_version="2",
        kind="full",
        started_at=now,
        verdict=verdict(features, [], 1_000, opts),
        window_start=now - dt.timedelta(days=30),
        window_end=now,
        n_rows=1_000,
        n_reference=20_000,
        features=features,
        metrics=[MetricValue("recall", 0.71, 300, "2")],
    )


def test_report_names_each_drifted_feature_and_loads_nothing(tmp_path) -> None:
    result = drifted_result()
    history = pd.DataFrame(
        {
            "metric": ["recall"] * 3,
            "group_column": [None] * 3,
            "value": [0.8, 0.75, 0.71],
            "model_version": ["1", "2", "2"],
            "started_at": pd.to_datetime(["2026-01-01", "2026-02-01", "2026-03-01"], utc=True),
        }
    )
    html_path, json_path = write_report(result, tmp_path, history)
    page = html_path.read_text()
    drifted = [f.feature for f in result.drifted]
    assert drifted and "Grade" not in drifted
    for name in drifted:
        escaped = name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        assert f"id='drift-{escaped}'" in page
    assert "<script" not in page and not re.search(r"(src|href)=", page)
    assert "recall" in page and "<polyline" in page  # performance over time
    back = CheckResult.from_dict(json.loads(json_path.read_text()))
    assert back.verdict.drifted_features == result.verdict.drifted_features
    assert result.report_html == str(html_path)
