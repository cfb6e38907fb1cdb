"""Schedules from settings (checked before serving) and the sweep of stuck runs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from studentops.errors import ConfigError


def _flows() -> dict:
    from studentops.flows.definitions import FLOWS

    return FLOWS


def test_schedules_become_deployments_with_their_timing_and_parameters() -> None:
    from studentops.flows.schedules import parse_schedules, to_deployments

    entries = [
        {
            "name": "nightly",
            "flow": "score",
            "cron": "0 2 * * *",
            "timezone": "Europe/London",
            "parameters": {"profile": "student-performance", "folder": "/exports"},
        },
        {"flow": "monitor", "interval_s": 604800, "parameters": {"profile": "uci-dropout"}},
    ]
    schedules = parse_schedules(entries, _flows())
    assert [s.name for s in schedules] == ["nightly", "monitor-2"]
    nightly, weekly = to_deployments(schedules, _flows())
    assert nightly.parameters == {"profile": "student-performance", "folder": "/exports"}
    assert nightly.schedules[0].schedule.cron == "0 2 * * *"
    assert nightly.schedules[0].schedule.timezone == "Europe/London"
    assert weekly.schedules[0].schedule.interval.total_seconds() == 604800
    assert nightly.entrypoint == "studentops.flows.definitions.score_flow"


P = {"profile": "student-performance"}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"flow": "scor", "cron": "0 2 * * *"}, "unknown flow 'scor'"),
        ({"flow": "score", "parameters": {"profile": "x"}}, "exactly one of cron or interval_s"),
        ({"flow": "score", "cron": "every night", "parameters": P}, "not a cron expression"),
        (
            {"flow": "score", "cron": "0 2 * * *", "timezone": "Mars/Base", "parameters": P},
            "timezone",
        ),
        (
            {"flow": "score", "interval_s": 60, "parameters": {"profil": "x"}},
            r"provided with parameters \['profil'\]",
        ),
        ({"flow": "train", "interval_s": 60, "every": 3}, r"flow_schedules\[0\]"),
    ],
)
def test_a_wrong_schedule_is_one_clear_error(entry: dict, message: str) -> None:
    from studentops.flows.schedules import parse_schedules

    with pytest.raises(ConfigError, match=message):
        parse_schedules([entry], _flows())


def test_prefect_environment_stays_under_home(tmp_path: Path) -> None:
    from studentops.config import load_settings
    from studentops.flows.server import database_url, prefect_environment

    settings = load_settings(home=tmp_path / "h", config_file=tmp_path / "none.yaml")
    env = prefect_environment(settings, "http://127.0.0.1:1234/api")
    home = str((tmp_path / "h" / "prefect").resolve())
    assert env["PREFECT_HOME"] == home and env["PREFECT_PROFILES_PATH"].startswith(home)
    assert env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] == f"sqlite+aiosqlite:///{home}/prefect.db"
    assert env["PREFECT_API_URL"] == "http://127.0.0.1:1234/api"
    pg = settings.model_copy(update={"prefect_database_url": "postgresql://u@127.0.0.1:5/db"})
    assert database_url(pg) == "postgresql+asyncpg://u@127.0.0.1:5/db"


@pytest.mark.usefixtures("harness")
def test_a_stuck_run_is_swept_marked_crashed_and_reported(flow_home: Path) -> None:
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.states import Running

    from studentops.config import load_settings
    from studentops.flows.sweep import sweep_and_report

    @flow(name="left-running")
    def left_running() -> None:
        """A run whose process vanished: it never leaves Running."""

    with get_client(sync_client=True) as client:
        run = client.create_flow_run(left_running, state=Running())
        fresh = client.create_flow_run(left_running, state=Running())
        time.sleep(1.0)
        client.set_flow_run_state(fresh.id, Running(), force=True)  # entered Running just now
        settings = load_settings(flow_stuck_after_s=0.5)
        swept = sweep_and_report(settings, client=client)
        assert str(run.id) in {s.run_id for s in swept}
        assert str(fresh.id) not in {s.run_id for s in swept}
        state = client.read_flow_run(run.id).state
        assert state is not None and state.is_crashed() and "swept" in (state.message or "")
        assert client.read_flow_run(fresh.id).state.is_running()
    alerts = (flow_home / "alerts" / "alerts.jsonl").read_text().splitlines()
    mine = [json.loads(a) for a in alerts if str(run.id) in a]
    assert len(mine) == 1 and "stuck in Running" in mine[0]["title"]
