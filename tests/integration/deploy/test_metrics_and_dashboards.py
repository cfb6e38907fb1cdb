"""A real Prometheus scraping the API role, the alert rules loaded, every dashboard query run.

PromQL panels run against this Prometheus, SQL panels against the PostgreSQL database that
holds the API's prediction log. Grafana itself is not packaged for Debian, so the dashboards'
rendering is not tested here (docs/deploy.md).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from loopback import free_port, running_server

from .conftest import (
    PROFILE,
    REPO,
    VENV_BIN,
    Team,
    role_env,
    tool,
    toy_records,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DEPLOY = REPO / "deploy"
# Series that exist only when something goes wrong; their queries must run, and may be empty.
QUIET = ("studentops_prediction_log_dropped_total", 'outcome="failed"')


def dashboard_queries(board: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(panel title, data source type, query text) of every query in a dashboard's JSON."""
    out = []
    for panel in board.get("panels", []):
        for target in panel.get("targets", []):
            kind = (target.get("datasource") or panel.get("datasource") or {}).get("type", "")
            out.append((panel["title"], kind, target.get("expr") or target.get("rawSql") or ""))
    return out


def _queries(kind: str) -> list[tuple[str, str]]:
    out = []
    for path in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json")):
        board = json.loads(path.read_text(encoding="utf-8"))
        out += [(f"{path.stem}: {t}", q) for t, k, q in dashboard_queries(board) if k == kind]
    assert out, f"no {kind} queries found"
    return out


@pytest.fixture(scope="module")
def traffic(team: Team, team_api: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Students (valid and invalid) sent to the API, logged, their outcomes, two checks.

    Afterwards every API series exists, the prediction log holds the students, and the
    monitoring tables hold a check of the training file (400 rows: a full drift verdict per
    feature) and, newest, a check of the log with performance on the arrived outcomes.
    """
    # 80 students: each sensitive group reaches the 20 that per-group performance needs
    records = toy_records(team, rows=80)
    for record in records[:10]:
        assert httpx.post(f"{team_api}/v1/predict", json=record, timeout=30).status_code == 200
    assert httpx.post(f"{team_api}/v1/predict", json=records, timeout=30).status_code == 200
    bad = dict(records[0], attendance=7.5)
    assert httpx.post(f"{team_api}/v1/predict", json=bad, timeout=30).status_code == 422
    _wait_logged(team.log_db, 90)
    folder = tmp_path_factory.mktemp("monitor")
    env = role_env(folder, **team.client_env())
    for args in (
        ["outcomes", "-p", PROFILE, "--data", str(team.data)],
        ["monitor", "-p", PROFILE, "--data", str(team.data)],
        # last, so that the API's gauges (newest check) carry its performance figures
        ["monitor", "-p", PROFILE, "--since", "1d"],
    ):
        done = subprocess.run(
            [str(VENV_BIN / "studentops"), *args],
            env=env,
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])
    return team_api


def _wait_logged(url: str, rows: int) -> None:
    """Until the API's log writer has stored ``rows`` predictions in PostgreSQL."""
    import psycopg

    deadline = time.monotonic() + 60
    while True:
        with psycopg.connect(url) as conn:
            found = conn.execute("SELECT to_regclass('predictions') IS NOT NULL").fetchone()
            if found and found[0]:
                count = conn.execute("SELECT count(*) FROM predictions").fetchone()
                if count and count[0] >= rows:
                    return
        assert time.monotonic() < deadline, "the API's predictions never reached PostgreSQL"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def prometheus(traffic: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """deploy/prometheus/prometheus.yml with the API's loopback address and a 1 s interval."""
    binary = tool("prometheus")
    folder = tmp_path_factory.mktemp("prometheus")
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(DEPLOY / "prometheus" / "alerts.yml")]
    api = next(job for job in config["scrape_configs"] if job["job_name"] == "studentops-api")
    api["static_configs"] = [{"targets": [traffic.removeprefix("http://")]}]
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    argv = [
        binary,
        f"--config.file={folder / 'prometheus.yml'}",
        f"--storage.tsdb.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    url = f"http://127.0.0.1:{port}"
    env = {"PATH": "/usr/bin:/bin"}
    with running_server(argv, folder=folder, ready=f"{url}/-/ready", env=env, timeout_s=60):
        _wait_for(url, 'count_over_time(up{job="studentops-api"}[1m]) >= 3')
        yield url


def _query(url: str, expr: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert answer["status"] == "success", (expr, answer)
    return list(answer["data"]["result"])


def _wait_for(url: str, expr: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not _query(url, expr):
        if time.monotonic() > deadline:
            pytest.fail(f"Prometheus never saw: {expr}")
        time.sleep(0.5)


def test_prometheus_scrapes_the_api(prometheus: str, team: Team) -> None:
    up = _query(prometheus, 'up{job="studentops-api"}')
    assert [float(s["value"][1]) for s in up] == [1.0]
    served = _query(prometheus, "studentops_model_info == 1")
    assert [s["metric"]["version"] for s in served] == [team.version]


def test_alert_rules_load_and_evaluate_without_error(prometheus: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        groups = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        if rules and all(rule.get("lastEvaluation", "").startswith("20") for rule in rules):
            break
        assert time.monotonic() < deadline, "rules were never evaluated"
        time.sleep(0.5)
    assert len(rules) == 7
    assert [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"] == []
    # A healthy API that was just scraped fires nothing.
    assert [r["name"] for r in rules if r["state"] == "firing"] == []


@pytest.mark.parametrize("title,expr", _queries("prometheus"))
def test_every_promql_panel_returns_data(prometheus: str, title: str, expr: str) -> None:
    result = _query(prometheus, expr.replace("$__rate_interval", "1m"))
    if not any(marker in expr for marker in QUIET):
        assert result, f"{title}: no data"


def _sql(expr: str) -> str:
    """Grafana's $__timeFilter(column) macro as Grafana expands it, for the last day."""
    return re.sub(
        r"\$__timeFilter\(([\w.]+)\)", r"\1 BETWEEN now() - interval '1 day' AND now()", expr
    )


@pytest.mark.parametrize("title,expr", _queries("grafana-postgresql-datasource"))
def test_every_sql_panel_returns_rows(traffic: str, team: Team, title: str, expr: str) -> None:
    import psycopg

    with psycopg.connect(team.log_db) as conn:
        rows = conn.execute(_sql(expr)).fetchall()  # type: ignore[arg-type]
    assert rows, f"{title}: no rows"


def test_promtool_accepts_the_shipped_files() -> None:
    promtool = tool("promtool")
    folder = DEPLOY / "prometheus"
    for args in (["check", "config", "prometheus.yml"], ["test", "rules", "alerts_test.yml"]):
        done = subprocess.run([promtool, *args], cwd=folder, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
