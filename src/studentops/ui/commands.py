"""CLI command of the dashboard part: ``studentops dashboard``."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Annotated

import typer

from studentops.config import load_settings

APP = Path(__file__).with_name("app.py")


def streamlit_command(app: Path, host: str, port: int) -> list[str]:
    """The ``streamlit run`` command line: headless, no usage statistics, no file watcher."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",
        # Okabe-Ito blue: buttons, tags and progress bars read alike for colour-blind people.
        "--theme.primaryColor",
        "#0072B2",
    ]


def free_port(host: str) -> int:
    """A port that is free on ``host`` now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def dashboard(
    port: Annotated[
        int | None,
        typer.Option(
            min=0, max=65535, help="Port to listen on; 0: any free one (default: dashboard_port)."
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
) -> None:
    """Open the dashboard: risk lists with reasons, one student, models, monitoring."""
    settings = load_settings()
    chosen = settings.dashboard_port if port is None else port
    if chosen == 0:
        chosen = free_port(host)
    typer.echo(f"dashboard on http://{host}:{chosen} (Ctrl+C to stop)", err=True)
    command = streamlit_command(APP, host, chosen)
    sys.stdout.flush()
    sys.stderr.flush()
    # Replace this process: stop signals then reach Streamlit itself.
    os.execv(command[0], command)


def register(app: typer.Typer) -> None:
    """Add the ``dashboard`` command to the CLI app."""
    app.command("dashboard")(dashboard)
