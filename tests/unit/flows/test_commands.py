"""`studentops flows` as a user meets it: one line on a mistake, before any server starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from studentops.errors import ConfigError


def run(*args: str, config: Path, columns: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "STUDENTOPS_"))}
    env["STUDENTOPS_CONFIG"] = str(config)
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return subprocess.run(
        [sys.executable, "-m", "studentops", "flows", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "studentops.yaml"
    path.write_text(yaml.safe_dump({"home": str(tmp_path / "state"), "prefect_port": 0}))
    return path


def test_mistakes_are_one_line_and_start_nothing(config: Path) -> None:
    for args, message in (
        (["serve"], "error: no flow_schedules in settings"),
        (["run", "scor", "-p", "x"], "error: unknown flow 'scor'"),
        (["run", "score", "-P", "profile"], "error: --param 'profile': expected key=value"),
    ):
        res = run(*args, config=config)
        assert res.returncode == 2, res.stderr
        assert res.stderr.strip().startswith(message) and "Traceback" not in res.stderr
    assert not (config.parent / "state" / "prefect" / "server.json").exists()


def test_list_shows_flows_and_schedules_without_touching_the_user_prefect(config: Path) -> None:
    values = yaml.safe_load(config.read_text())
    values["flow_schedules"] = [
        {"name": "nightly", "flow": "score", "cron": "0 2 * * *", "parameters": {"profile": "p"}}
    ]
    config.write_text(yaml.safe_dump(values))
    res = run("list", config=config)
    assert res.returncode == 0, res.stderr
    for name in ("train", "score", "events-features", "monitor", "retrain"):
        assert f"\n{name} " in f"\n{res.stdout}"
    assert "nightly: score cron '0 2 * * *' UTC" in res.stdout
    assert (config.parent / "state" / "prefect").is_dir()


def test_list_fits_80_columns(config: Path) -> None:
    values = yaml.safe_load(config.read_text())
    values["flow_schedules"] = [
        {
            "name": "nightly-scoring-of-the-whole-school",
            "flow": "score",
            "cron": "0 2 * * *",
            "parameters": {"profile": "student-performance", "data": "/srv/school/term.csv"},
        }
    ]
    config.write_text(yaml.safe_dump(values))
    res = run("list", config=config, columns=80)
    assert res.returncode == 0, res.stderr
    assert max(len(line) for line in res.stdout.splitlines()) <= 80, res.stdout
    for name in ("train", "score", "events-features", "monitor", "retrain"):
        assert f"\n{name} " in f"\n{res.stdout}"
    assert "nightly-scoring-of-the-whole-school: score cron '0 2 * * *'" in res.stdout


def test_params_are_yaml_scalars_and_the_names_match_the_flows() -> None:
    from studentops.flows.commands import FLOW_NAMES, parse_params
    from studentops.flows.definitions import FLOWS

    assert parse_params(["top=5", "promote=true", "data=a.csv", "time-budget-s=2.5", "out="]) == {
        "top": 5,
        "promote": True,
        "data": "a.csv",
        "time_budget_s": 2.5,
        "out": None,
    }
    with pytest.raises(ConfigError):
        parse_params(["=3"])
    assert set(FLOW_NAMES) == set(FLOWS)
