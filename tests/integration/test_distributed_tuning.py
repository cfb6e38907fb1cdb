"""Two `studentops tune` processes share one Optuna study on a real PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_two_workers_fill_one_study(
    postgres_url: str, toy_files: tuple[Path, Path], home: Path
) -> None:
    import optuna
    from optuna.trial import TrialState

    from studentops.databases import with_installed_driver

    profile, data = toy_files
    cmd = [
        sys.executable, "-m", "studentops", "tune",
        "--profile", str(profile), "--data", str(data),
        "--storage", postgres_url, "--study", "toy-shared",
        "--time-budget", "15", "--json",
    ]  # fmt: skip
    # Both start at the same moment on an empty database: the table-creation race is part of it.
    workers = [
        subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
        )
        for _ in range(2)
    ]
    outputs = [w.communicate(timeout=300) for w in workers]
    for w, (_out, err) in zip(workers, outputs, strict=True):
        assert w.returncode == 0, err[-2000:]
    reports = [json.loads(out) for out, _ in outputs]
    assert reports[0]["worker"] != reports[1]["worker"]
    assert all(r["trials_here"] > 0 for r in reports)

    study = optuna.load_study(study_name="toy-shared", storage=with_installed_driver(postgres_url))
    stamped: dict[str, set[int]] = {}
    for trial in study.trials:
        if trial.state != TrialState.WAITING:  # queued defaults left when the budget ran out
            stamped.setdefault(trial.user_attrs.get("worker", "none"), set()).add(trial.number)
    assert set(stamped) == {r["worker"] for r in reports}
    for report in reports:
        assert stamped[report["worker"]] == set(report["trial_numbers"])
    assert study.best_trial.value == max(r["best_value"] for r in reports)
