"""Every flow from `studentops flows run` on a PostgreSQL-backed Prefect server.

One server (started as `studentops` starts it, its database on a real local PostgreSQL) and a
chain a district would run: train and promote, score a new term, monitor it, retrain on
labelled rows, weekly features. Each command is a fresh process that finds the home's server.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROFILE = "student-performance"


def test_every_flow_runs_from_the_cli_on_postgres(
    postgres_url: str,
    oulad_folder: Path,
    tmp_path: Path,
    kit: Any,
    mlflow_ready: Callable[[Path], Path],
) -> None:
    from studentops.config import load_settings
    from studentops.datasets.profile import load_profile
    from studentops.datasets.synthetic import generate_cohort
    from studentops.flows.server import start_server

    profile = load_profile(PROFILE)
    cohort = generate_cohort(profile, 600, seed=11)
    cohort.iloc[:400].to_csv(tmp_path / "train.csv", index=False)
    cohort.iloc[400:].to_csv(tmp_path / "labelled.csv", index=False)
    drop = [c for c in (profile.target.column, profile.target_source) if c]
    cohort.iloc[400:].drop(columns=drop).to_csv(tmp_path / "term.csv", index=False)

    home = mlflow_ready(tmp_path / "state")  # an empty registry, made once per session
    config = kit.write_config(tmp_path, home=str(home), prefect_database_url=postgres_url)
    server = start_server(load_settings(config), timeout_s=kit.SERVER_START_TIMEOUT_S, ui=False)
    env = kit.cli_env(config)

    def flows_run(*args: str) -> dict[str, Any]:
        proc = kit.studentops("flows", "run", *args, env=env)
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
        return dict(json.loads(out[out.index("{") :]))

    try:
        trained = flows_run(
            "train", "-p", PROFILE, "-d", str(tmp_path / "train.csv"),
            "-P", "time_budget_s=3", "-P", "promote=true",
        )  # fmt: skip
        assert trained["version"] == "1" and trained["promoted"] is True
        scored = flows_run("score", "-p", PROFILE, "-d", str(tmp_path / "term.csv"))
        assert scored["accepted"] == 200 and Path(scored["out_path"]).is_file()
        checked = flows_run("monitor", "-p", PROFILE, "-P", "retrain=false")
        assert checked["n_rows"] == 200 and checked["check_id"] is not None
        retrained = flows_run(
            "retrain", "-p", PROFILE, "-d", str(tmp_path / "labelled.csv"),
            "-P", "time_budget_s=3",
        )  # fmt: skip
        assert retrained["outcome"] in ("promoted", "kept")
        assert retrained["challenger_version"] == "2"
        features = flows_run("events-features", "-P", f"oulad={oulad_folder}", "-P", "week=2")
        assert features["rows"] == 40
        runs = kit.flow_runs(server.api_url)
        names = {r.name for r in runs if r.state is not None and r.state.is_completed()}
        assert len(names) >= 5  # five flows (monitor's retrain subflow was off)
    finally:
        server.stop()
