"""The team tracking server's command line comes from settings alone."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from studentops.config import load_settings
from studentops.deploy.tracking_server import server_command


def _option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_team_settings_become_the_server_command(home: Path) -> None:
    settings = load_settings(
        tracking_server_backend_uri="postgresql://mlflow@db:5432/mlflow",
        tracking_server_artifacts="s3://team-bucket/mlflow",
        s3_endpoint_url="http://minio:9000",
        tracking_server_host="0.0.0.0",
        tracking_server_port=5050,
        tracking_server_allowed_hosts="mlflow:5050",
        aws_region="eu-west-1",
    )
    command = server_command(settings)
    assert command.argv[:4] == [sys.executable, "-m", "mlflow", "server"]
    # psycopg 3 is the driver installed; SQLAlchemy would pick psycopg2 for postgresql://
    assert (
        _option(command.argv, "--backend-store-uri") == "postgresql+psycopg://mlflow@db:5432/mlflow"
    )
    assert _option(command.argv, "--artifacts-destination") == "s3://team-bucket/mlflow"
    assert "--serve-artifacts" in command.argv
    assert _option(command.argv, "--port") == "5050"
    assert _option(command.argv, "--allowed-hosts") == "mlflow:5050"
    assert command.env["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert command.env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert not any(key.startswith("AWS_ACCESS") for key in command.env)


def test_laptop_defaults_keep_everything_under_home(home: Path) -> None:
    command = server_command(load_settings())
    assert _option(command.argv, "--backend-store-uri").startswith("sqlite:///")
    assert str(home.resolve()) in _option(command.argv, "--backend-store-uri")
    assert _option(command.argv, "--artifacts-destination").startswith("file://")
    assert _option(command.argv, "--host") == "127.0.0.1"
    assert "--allowed-hosts" not in command.argv
    assert "MLFLOW_S3_ENDPOINT_URL" not in command.env


def test_cli_prints_the_command(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from studentops.cli import main

    with pytest.raises(SystemExit) as done:
        main(["tracking-server", "--print"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "mlflow server --backend-store-uri sqlite:///" in out


def test_a_bad_port_is_one_line(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from studentops.cli import main

    monkeypatch.setenv("STUDENTOPS_TRACKING_SERVER_PORT", "70000")
    with pytest.raises(SystemExit) as done:
        main(["tracking-server", "--print"])
    assert done.value.code == 2
    assert capsys.readouterr().err.startswith("error: setting 'tracking_server_port'")
