"""The team topology on loopback, started through the image's entrypoint (deploy/entrypoint.sh).

Once per session: a real PostgreSQL (databases ``mlflow`` and ``studentops``), moto in server
mode as the S3 endpoint (its own process), the ``tracking`` role (a real ``mlflow server`` on
PostgreSQL with ``--artifacts-destination s3://...``), a model trained, registered and promoted
through it by a client that holds no AWS keys, and the ``api`` role serving it with its
prediction log on PostgreSQL. Only the tracking server and moto ever see S3 credentials.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from loopback import free_port, running_server

REPO = Path(__file__).resolve().parents[3]
ENTRYPOINT = REPO / "deploy" / "entrypoint.sh"
VENV_BIN = Path(sys.executable).parent
BUCKET = "studentops-team"
# Credentials moto accepts; handed to the tracking server's process only.
SERVER_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
PROFILE = "toy-dropout"


def keyless_environ() -> dict[str, str]:
    """This process's environment with every AWS credential source removed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STUDENTOPS_"))}
    env.update(no_aws_keys())
    return env


def no_aws_keys() -> dict[str, str]:
    """Variables that leave boto3 no credentials to find (files, instance metadata)."""
    return {
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
        "AWS_CONFIG_FILE": "/nonexistent/config",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def role_env(folder: Path, **extra: str) -> dict[str, str]:
    """Environment of one role process: venv first on PATH, its own home and role file."""
    env = keyless_environ()
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        STUDENTOPS_HOME=str(folder / "home"),
        STUDENTOPS_CONFIG=str(folder / "none.yaml"),
        STUDENTOPS_ROLE_FILE=str(folder / "role"),
        BIND_HOST="127.0.0.1",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def entrypoint(role: str, *args: str) -> list[str]:
    """The command line that starts ``role`` through the image's entrypoint."""
    return ["sh", str(ENTRYPOINT), role, *args]


@dataclass
class Team:
    """URLs of the running topology and what was trained through it."""

    tracking_url: str
    s3_endpoint: str
    postgres: Any
    mlflow_db: str
    log_db: str
    profiles_dir: Path
    data: Path
    run_id: str = ""
    version: str = ""

    def s3(self) -> Any:
        """An S3 client with moto's keys passed explicitly (never through the environment)."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint,
            region_name="us-east-1",
            aws_access_key_id=SERVER_KEYS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=SERVER_KEYS["AWS_SECRET_ACCESS_KEY"],
        )

    def client_env(self) -> dict[str, str]:
        """STUDENTOPS_* a team member sets: the server URL and where to log predictions."""
        return {
            "STUDENTOPS_TRACKING_URI": self.tracking_url,
            "STUDENTOPS_PROFILES_DIR": str(self.profiles_dir),
            "STUDENTOPS_PREDICTION_LOG_URL": self.log_db,
        }


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's server mode in its own process (S3 and Kinesis) on a free loopback port."""
    port = free_port()
    folder = tmp_path_factory.mktemp("moto")
    url = f"http://127.0.0.1:{port}"
    argv = [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    with running_server(argv, folder=folder, ready=f"{url}/moto-api/", env=keyless_environ()):
        yield url


@pytest.fixture(scope="session")
def team(
    postgres_server: Any, moto_s3: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Team]:
    """PostgreSQL + S3 (moto) + the tracking role, and a champion trained through it."""
    from studentops_tests_toy import write_toy_data, write_toy_profile  # type: ignore[import-not-found]

    root = tmp_path_factory.mktemp("team")
    profiles = root / "profiles"
    profiles.mkdir()
    write_toy_profile(profiles)
    team = Team(
        tracking_url="",
        s3_endpoint=moto_s3,
        postgres=postgres_server,
        mlflow_db=postgres_server.create_database("mlflow"),
        log_db=postgres_server.create_database("studentops"),
        profiles_dir=profiles,
        data=write_toy_data(root, rows=400),
    )
    team.s3().create_bucket(Bucket=BUCKET)
    port = free_port()
    env = role_env(
        root / "tracking",
        STUDENTOPS_TRACKING_SERVER_BACKEND_URI=team.mlflow_db,
        STUDENTOPS_TRACKING_SERVER_ARTIFACTS=f"s3://{BUCKET}/mlflow",
        STUDENTOPS_S3_ENDPOINT_URL=moto_s3,
        STUDENTOPS_TRACKING_SERVER_HOST="127.0.0.1",
        STUDENTOPS_TRACKING_SERVER_PORT=str(port),
        STUDENTOPS_AWS_REGION="us-east-1",
        **SERVER_KEYS,
    )
    team.tracking_url = f"http://127.0.0.1:{port}"
    ready = f"{team.tracking_url}/health"
    with running_server(
        entrypoint("tracking"), folder=root / "tracking", ready=ready, env=env, name="tracking"
    ):
        with pytest.MonkeyPatch.context() as mp:
            for key in [k for k in os.environ if k.startswith(("AWS_", "STUDENTOPS_"))]:
                mp.delenv(key)
            for key, value in {**no_aws_keys(), **team.client_env()}.items():
                mp.setenv(key, value)
            mp.setenv("STUDENTOPS_HOME", str(root / "client-home"))
            mp.setenv("STUDENTOPS_CONFIG", str(root / "none.yaml"))
            _train_and_promote(team)
        yield team


def _train_and_promote(team: Team) -> None:
    import boto3

    from studentops.config import load_settings
    from studentops.registry import models
    from studentops.tracking import client_for
    from studentops.training.pipeline import train_and_register

    assert boto3.Session().get_credentials() is None, "the client must hold no AWS keys"
    settings = load_settings()
    outcome = train_and_register(PROFILE, team.data, settings=settings, time_budget_s=3)
    assert outcome.version is not None
    decision = models.promote(client_for(settings), PROFILE, margin=0.0, max_gap=1.0, force=True)
    assert decision.promoted
    team.run_id, team.version = outcome.run_id, outcome.version.version


@pytest.fixture(scope="session")
def team_api(team: Team, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The ``api`` role serving the champion from the tracking server (no AWS keys)."""
    folder = tmp_path_factory.mktemp("api")
    port = free_port()
    env = role_env(
        folder,
        **team.client_env(),
        STUDENTOPS_SERVE_PROFILE=PROFILE,
        API_PORT=str(port),
        API_WORKERS="1",
        STUDENTOPS_RELOAD_INTERVAL_S="2",
    )
    url = f"http://127.0.0.1:{port}"
    with running_server(
        entrypoint("api"), folder=folder, ready=f"{url}/ready", env=env, name="api"
    ):
        yield url


def toy_records(team: Team, rows: int = 40) -> list[dict[str, Any]]:
    """Students as a JSON client sends them."""
    import pandas as pd

    frame = pd.read_csv(team.data, nrows=rows, keep_default_na=False).drop(columns=["dropout"])
    out = []
    for row in frame.to_dict("records"):
        rec = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        if rec["grade"] == "":
            rec["grade"] = None
        out.append(rec)
    return out


def tool(name: str) -> str:
    """A Debian binary the test needs, or skip with how to get it."""
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} not found (apt-get install prometheus)")
    return found
