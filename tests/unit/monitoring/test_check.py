"""`run_check` on a file against a reference built from a generated cohort (no registry)."""

from __future__ import annotations

import json
from pathlib import Path

from studentops.config import load_settings
from studentops.datasets.profile import load_profile
from studentops.datasets.synthetic import generate_cohort
from studentops.monitoring.check import run_check
from studentops.monitoring.reference import ReferenceProfile, build_reference
from studentops.monitoring.store import MonitorStore

PROFILE = "student-performance"


def test_file_check_finds_the_planted_drift_and_is_stored(home: Path, tmp_path: Path) -> None:
    profile = load_profile(PROFILE)
    reference = build_reference(profile, generate_cohort(profile, 3_000, seed=1))
    assert reference.target is not None and reference.prediction is None
    again = ReferenceProfile.from_dict(json.loads(json.dumps(reference.to_dict())))
    drifted = generate_cohort(
        profile, 1_500, seed=2, drifts=["Absences:+60%", "StudyTimeWeekly:missing=30%"]
    )
    path = tmp_path / "term.csv"
    drifted.to_csv(path, index=False)
    settings = load_settings()
    result = run_check(PROFILE, settings=settings, data=path, reference=again, model_version="7")
    assert result.kind == "drift" and result.n_rows == 1_500
    by_name = {f.feature: f for f in result.features}
    assert by_name["Absences"].drifted and by_name["StudyTimeWeekly"].missing_drifted
    assert set(result.verdict.drifted_features) == {"Absences", "StudyTimeWeekly"}
    assert Path(result.report_html or "").exists()
    assert json.loads(Path(result.report_json or "").read_text())["check_id"] == result.check_id
    with MonitorStore(settings.prediction_log) as store:
        stored = store.latest_check(PROFILE)
    assert stored is not None and stored.model_version == "7"

    same = generate_cohort(profile, 1_500, seed=3)
    same.to_csv(path, index=False)
    quiet = run_check(PROFILE, settings=settings, data=path, reference=again, write=False)
    assert quiet.verdict.status == "ok" and quiet.verdict.drifted_features == []
