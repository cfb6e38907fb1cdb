"""Real servers for the flow tests: a Prefect server started as `studentops` starts it, SMTP.

Prefect reads its settings once, at import: ``PREFECT_HOME`` points at a temporary folder before
any test here imports it, and in-process clients talk to a given server through
``temporary_settings``. Subprocesses get their own ``STUDENTOPS_HOME`` (so their own
``PREFECT_HOME``) through :func:`cli_env`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from loopback import free_port

os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="studentops-prefect-"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.pop("PREFECT_API_URL", None)

SERVER_START_TIMEOUT_S = 300.0


def write_config(folder: Path, **values: Any) -> Path:
    """A studentops.yaml with these settings (home under ``folder``)."""
    values.setdefault("home", str(folder / "state"))
    values.setdefault("prefect_port", 0)
    path = folder / "studentops.yaml"
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return path


def cli_env(config: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "STUDENTOPS_"))}
    env["STUDENTOPS_CONFIG"] = str(config)
    env.update(extra)
    return env


def studentops(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "studentops", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def flow_runs(api_url: str, **filters: Any) -> list[Any]:
    """Flow runs on the server at ``api_url`` (optionally of one deployment)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with (
        temporary_settings(updates={PREFECT_API_URL: api_url}),
        get_client(sync_client=True) as client,
    ):
        return list(client.read_flow_runs(**filters))


@pytest.fixture(scope="session")
def kit() -> Any:
    """This conftest module (its helpers), found by its own unique name."""
    return sys.modules[__name__]


@pytest.fixture(scope="session")
def oulad_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic OULAD-shaped folder (events-features needs no trained model)."""
    from studentops.events.synthetic import generate_oulad, write_oulad

    folder = tmp_path_factory.mktemp("oulad")
    write_oulad(generate_oulad(40, seed=2, clicks_per_student=20), folder)
    return folder


@dataclass
class Mailbox:
    port: int
    messages: list[Any] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        from email import message_from_bytes, policy

        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    """A real aiosmtpd server on a free loopback port (chosen first: port=0 cannot be read)."""
    from aiosmtpd.controller import Controller

    box = Mailbox(free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()
