"""The HTML report opened in a real browser (Chromium, offline): each drifted feature is shown
and the page asks for nothing beyond its own file."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from studentops.monitoring.drift import DriftOptions, compare_categorical, compare_numeric, verdict
from studentops.monitoring.reference import categorical_reference, numeric_reference
from studentops.monitoring.report import write_report
from studentops.monitoring.results import CheckResult, MetricValue

pytestmark = [pytest.mark.integration]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def drifted_result() -> CheckResult:
    """Two drifted features (a number, a category with unseen values) and one that is not."""
    rng = np.random.default_rng(5)
    opts = DriftOptions()
    ref = numeric_reference(rng.normal(10, 2, 20_000))
    cats = categorical_reference(pd.Series(rng.choice(["x", "y"], 20_000), dtype="str"))
    course = pd.Series(["x"] * 900 + ["z"] * 100, dtype="str")
    features = [
        compare_numeric("Absences", ref, rng.normal(14, 2, 1_000), opts),
        compare_numeric("Grade", ref, rng.normal(10, 2, 1_000), opts),
        compare_categorical("Course", cats, course, opts),
    ]
    now = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    return CheckResult(
        profile="p",
        model_name="studentops-p",
        model_version="2",
        kind="full",
        started_at=now,
        verdict=verdict(features, [], 1_000, opts),
        n_rows=1_000,
        n_reference=20_000,
        features=features,
        metrics=[MetricValue("recall", 0.71, 300, "2")],
    )


def test_report_in_chromium_shows_each_drifted_feature(tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed")
    result = drifted_result()
    html_path, _ = write_report(result, tmp_path)
    requested: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on("request", lambda r: requested.append(r.url))
            page.goto(html_path.as_uri())
            text = page.inner_text("body")
            figures = page.locator("figure[id^='drift-'] svg").count()
        finally:
            browser.close()
    drifted = [f.feature for f in result.drifted]
    assert len(drifted) == 2 and figures == len(drifted)
    for name in drifted:
        assert name in text
    assert "Verdict" in text and "recall" in text
    assert requested == [html_path.as_uri()]
