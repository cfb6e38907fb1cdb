"""Team tracking end to end: PostgreSQL store, S3 artifacts (moto), clients with no AWS keys."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import BUCKET, PROFILE, Team, toy_records

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_runs_and_registry_live_in_postgresql(team: Team) -> None:
    import psycopg

    with psycopg.connect(team.mlflow_db) as conn:
        runs = conn.execute("SELECT count(*) FROM runs WHERE run_uuid = %s", [team.run_id])
        assert runs.fetchone() == (1,)
        aliases = conn.execute(
            "SELECT alias, version FROM registered_model_aliases WHERE name = %s",
            [f"studentops-{PROFILE}"],
        ).fetchall()
    assert ("champion", int(team.version)) in aliases


def test_artifacts_are_proxied_to_s3(team: Team) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=team.tracking_url)
    run = client.get_run(team.run_id)
    # The client only ever sees the server's proxy scheme, never s3:// or a key.
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")
    listed = team.s3().list_objects_v2(Bucket=BUCKET, Prefix="mlflow/")
    keys = [obj["Key"] for obj in listed.get("Contents", [])]
    assert any(key.endswith(f"{team.run_id}/artifacts/profile.yaml") for key in keys), keys
    assert any(key.endswith("MLmodel") for key in keys), keys


def test_api_serves_and_scores_the_champion_from_the_server(team: Team, team_api: str) -> None:
    model = httpx.get(f"{team_api}/v1/model", timeout=10).json()
    assert model["version"] == team.version
    records = toy_records(team, rows=20)
    answer = httpx.post(f"{team_api}/v1/predict", json=records, timeout=30)
    assert answer.status_code == 200, answer.text
    body: list[dict[str, Any]] = answer.json()
    assert len(body) == len(records)
    assert {row["prediction"] for row in body} <= {"yes", "no"}
    assert all(0.0 <= row["risk_score"] <= 1.0 for row in body)
    assert {row["model_version"] for row in body} == {team.version}


def test_image_healthcheck_sees_the_running_roles(team: Team, team_api: str, tmp_path: Any) -> None:
    import subprocess
    import sys

    from .conftest import ENTRYPOINT

    def health(role: str, **env: str) -> int:
        (tmp_path / "role").write_text(role)
        env["STUDENTOPS_ROLE_FILE"] = str(tmp_path / "role")
        script = ENTRYPOINT.with_name("healthcheck.py")
        return subprocess.run([sys.executable, str(script)], env=env, check=False).returncode

    assert health("api", API_PORT=team_api.rsplit(":", 1)[1]) == 0
    port = team.tracking_url.rsplit(":", 1)[1]
    assert health("tracking", STUDENTOPS_TRACKING_SERVER_PORT=port) == 0
