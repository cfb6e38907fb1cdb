"""CLI command of the deploy part: ``tracking-server`` (the team's MLflow server)."""

from __future__ import annotations

import shlex
from typing import Annotated

import typer

from studentops.config import load_settings


def tracking_server_cmd(
    print_only: Annotated[
        bool, typer.Option("--print", help="Print the command line instead of running it.")
    ] = False,
) -> None:
    """Run the team's MLflow tracking server from settings (store, artifacts, S3 endpoint)."""
    from studentops.deploy.tracking_server import exec_server, server_command

    settings = load_settings()
    if print_only:
        command = server_command(settings)
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(command.env.items()))
        typer.echo(f"{env} {shlex.join(command.argv)}".strip())
        return
    exec_server(settings)


def register(app: typer.Typer) -> None:
    """Add the ``tracking-server`` command to the CLI app."""
    app.command("tracking-server")(tracking_server_cmd)
