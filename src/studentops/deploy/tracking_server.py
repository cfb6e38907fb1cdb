"""The team's MLflow tracking server, built from settings: PostgreSQL store, artifacts on S3.

``mlflow server`` keeps runs and the registry in ``tracking_server_backend_uri`` and, with
``--artifacts-destination``, proxies every artifact upload and download itself
(``mlflow-artifacts:/`` URIs). Only the server holds S3 credentials and needs the S3 endpoint;
clients set ``tracking_uri`` to the server's URL and nothing else, which avoids the endpoint and
credential mistakes MLflow users report (mlflow/mlflow issues #9523, #1813, #5514).
Importing this module does nothing.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from studentops.config import Settings
from studentops.databases import with_installed_driver


@dataclass(frozen=True)
class ServerCommand:
    """The command line and the extra environment of one ``mlflow server``."""

    argv: list[str]
    env: dict[str, str]


def backend_store_uri(settings: Settings) -> str:
    """The server's store, with the installed PostgreSQL driver; SQLite under home by default."""
    if settings.tracking_server_backend_uri:
        return with_installed_driver(settings.tracking_server_backend_uri)
    from studentops.tracking import seed_sqlite_store

    db = settings.ensure_home() / "mlflow-server.db"
    seed_sqlite_store(db, settings)  # migrated once per machine, not at every server's start
    return f"sqlite:///{db.resolve()}"


def artifacts_destination(settings: Settings) -> str:
    """Where the server writes artifacts (``s3://bucket/prefix`` in a team set-up)."""
    if settings.tracking_server_artifacts:
        return settings.tracking_server_artifacts
    return (settings.ensure_home() / "mlflow-server-artifacts").resolve().as_uri()


def server_command(settings: Settings) -> ServerCommand:
    """``mlflow server`` for ``settings`` (``python -m mlflow``, so it runs in this environment).

    ``s3_endpoint_url`` becomes ``MLFLOW_S3_ENDPOINT_URL`` (read by MLflow's S3 artifact
    repository) and ``aws_region`` becomes ``AWS_DEFAULT_REGION``; the S3 keys themselves come
    from the server's own environment or instance role, never from settings. Variables already
    in the environment win over these.
    """
    argv = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        backend_store_uri(settings),
        "--artifacts-destination",
        artifacts_destination(settings),
        "--serve-artifacts",
        "--host",
        settings.tracking_server_host,
        "--port",
        str(settings.tracking_server_port),
        "--workers",
        str(settings.tracking_server_workers),
    ]
    if settings.tracking_server_allowed_hosts:
        argv += ["--allowed-hosts", settings.tracking_server_allowed_hosts]
    # MLflow 3 starts job-runner processes for GenAI scoring by default; studentops runs none.
    env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    if settings.s3_endpoint_url:
        env["MLFLOW_S3_ENDPOINT_URL"] = settings.s3_endpoint_url
    if settings.aws_region:
        env["AWS_DEFAULT_REGION"] = settings.aws_region
    return ServerCommand(argv, env)


def exec_server(settings: Settings) -> None:
    """Replace this process with the server (so signals reach it directly). Never returns."""
    command = server_command(settings)
    os.execve(command.argv[0], command.argv, {**command.env, **os.environ})
