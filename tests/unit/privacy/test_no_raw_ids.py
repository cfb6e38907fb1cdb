"""No raw student id reaches logs, the prediction log, the monitoring tables or MLflow.

A full demo run (generate, validate, train, register with its card, promote, score, explain,
score a drifted cohort, check drift), then outcomes recorded for the scored students and a
performance check, on the student-performance profile with text ids (``S0000001``...) so a
leak cannot hide among other numbers. Every file the run left under ``home`` is searched for
every raw id it was given, as are the log records. Not searched, by design: the school's own
files in ``home/demo`` (the cohorts the demo generated and the scored CSVs handed back, which
must carry ids to be useful) and ``home/rejects`` (rejected cells for the data team; listed in
docs/privacy.md, purged by retention, erased per student).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from studentops.config import load_settings

ID = re.compile(rb"S\d{7}")


@pytest.mark.slow
def test_demo_run_leaves_no_raw_id(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from studentops.datasets.profile import _builtin_text
    from studentops.demo import run_demo
    from studentops.monitoring.check import run_check
    from studentops.monitoring.outcomes import record_outcomes
    from studentops.privacy.retention import erase

    text = _builtin_text("student-performance")
    assert text is not None and "StudentID: {type: integer, min: 0}" in text
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "student-performance.yaml").write_text(
        text.replace("StudentID: {type: integer, min: 0}", "StudentID: {type: text}"),
        encoding="utf-8",
    )
    monkeypatch.setenv("STUDENTOPS_PROFILES_DIR", str(profiles))
    caplog.set_level(logging.DEBUG, logger="studentops")
    caplog.set_level(logging.INFO)
    settings = load_settings()

    run_demo(settings, rows=400, budget_s=6)
    demo = home / "demo"
    new_term = pd.read_csv(demo / "new-term.csv", dtype={"StudentID": str})
    outcomes = pd.DataFrame(
        {
            "StudentID": new_term["StudentID"],
            "GradeClass": np.random.default_rng(0).integers(0, 5, len(new_term)),
            "Gender": new_term["Gender"],
            "Ethnicity": new_term["Ethnicity"],
        }
    )
    outcomes.to_csv(tmp_path / "outcomes.csv", index=False)
    record_outcomes("student-performance", tmp_path / "outcomes.csv", settings)
    run_check("student-performance", settings=settings)
    erase(settings, new_term["StudentID"].iloc[0])

    given = set()
    for name in ("cohort.csv", "new-term.csv", "drifted-term.csv"):
        given |= set(pd.read_csv(demo / name, dtype={"StudentID": str})["StudentID"])
    assert len(given) >= 400 and all(ID.fullmatch(i.encode()) for i in given)

    searched, leaks = 0, {}
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        relative = path.relative_to(home)
        # The school's own files: its input files, rejected cells to fix, and the dashboard's
        # saved risk lists (a counselor needs the id); purge and erase cover the last two.
        if relative.parts[0] in ("demo", "rejects") or relative.parts[:1] == ("dashboard",):
            continue
        found = {m.decode() for m in ID.findall(path.read_bytes())} & given
        searched += 1
        if found:
            leaks[str(relative)] = sorted(found)[:3]
    assert searched > 20  # the MLflow database and artifacts, the logs, reports, read copies
    assert (home / "predictions.db").is_file() and (home / "mlflow.db").is_file()
    assert not leaks, f"raw student ids in: {leaks}"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert not (set(ID.findall(logged.encode())) & {i.encode() for i in given})
