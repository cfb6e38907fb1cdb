"""CLI: ``studentops flows list | run NAME | serve | server | sweep``.

Thin: Prefect's settings are pointed at home (:mod:`studentops.flows.server`) BEFORE Prefect is
imported, then each command calls one function. ``run`` and ``serve`` use the home's running
Prefect server or start one for as long as they run; ``server`` keeps one up for the UI.
"""

from __future__ import annotations

import json
import logging
import shutil
import textwrap
import threading
from typing import Annotated, Any

import typer
import yaml

from studentops.config import Settings, load_settings
from studentops.errors import ConfigError

flows_app = typer.Typer(help="Prefect flows: run now, serve on schedules, open the UI.")
log = logging.getLogger(__name__)

FLOW_NAMES = ("train", "score", "events-features", "monitor", "retrain")


def _flows() -> dict[str, Any]:
    from studentops.flows.definitions import FLOWS

    return FLOWS


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; values read as YAML scalars (``3`` is an int, ``true`` a bool).

    Raises:
        ConfigError: a pair is not ``key=value`` or its value is unreadable YAML.
    """
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--param '{pair}': expected key=value")
        try:
            params[key.strip().replace("-", "_")] = yaml.safe_load(value) if value else None
        except yaml.YAMLError as exc:
            raise ConfigError(f"--param '{pair}': unreadable value") from exc
    return params


def list_cmd() -> None:
    """The flows and the schedules configured in settings."""
    from studentops.flows.schedules import parse_schedules
    from studentops.flows.server import apply_environment

    settings = load_settings()
    apply_environment(settings)
    flows = _flows()
    width = shutil.get_terminal_size().columns  # COLUMNS when set; lines wrap, never run over
    for name, fl in flows.items():
        doc = (fl.fn.__doc__ or "").strip().splitlines()[0]
        typer.echo(_wrapped(f"{name:16} {doc}", width, indent=17))
    schedules = parse_schedules(settings.flow_schedules, flows)
    typer.echo(f"\n{len(schedules)} schedule(s) in settings")
    for s in schedules:
        timing = f"cron '{s.cron}' {s.timezone or 'UTC'}" if s.cron else f"every {s.interval_s}s"
        line = f"  {s.name}: {s.flow} {timing} {json.dumps(s.parameters)}"
        typer.echo(_wrapped(line, width, indent=4))


def _wrapped(line: str, width: int, indent: int) -> str:
    """``line`` wrapped at ``width`` (at least 40), continuation lines indented."""
    return textwrap.fill(
        line,
        width=max(width, 40),
        subsequent_indent=" " * indent,
        break_on_hyphens=False,
        drop_whitespace=True,
    )


def run_cmd(
    name: Annotated[str, typer.Argument(help=f"One of: {', '.join(FLOW_NAMES)}.")],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-P", help="A flow parameter, key=value (repeat)."),
    ] = None,
    profile: Annotated[
        str | None, typer.Option("--profile", "-p", help="Shortcut for -P profile=.")
    ] = None,
    data: Annotated[str | None, typer.Option("--data", "-d", help="Shortcut for -P data=.")] = None,
) -> None:
    """Run one flow now on the home's Prefect server (started for the run if none is up)."""
    from studentops.flows.schedules import check_parameters
    from studentops.flows.server import prefect_server

    settings = load_settings()
    params = parse_params(param or [])
    params.update({k: v for k, v in (("profile", profile), ("data", data)) if v is not None})
    if name not in FLOW_NAMES:
        raise ConfigError(f"unknown flow '{name}' (one of {', '.join(FLOW_NAMES)})")
    # Prefect reads its settings once, when imported: only once the server's URL is known.
    with prefect_server(settings, ui=False):
        flows = _flows()
        check_parameters(flows[name], params, f"flow '{name}'")
        result = flows[name](**params)
    typer.echo(json.dumps(result, indent=2, default=str))


def serve_cmd(
    limit: Annotated[int | None, typer.Option(help="Most runs at the same time.")] = None,
) -> None:
    """Run the scheduled flows of settings until stopped (Ctrl-C); sweep stuck runs meanwhile."""
    from studentops.flows.schedules import parse_schedules, to_deployments
    from studentops.flows.server import prefect_server

    settings = load_settings()
    if not settings.flow_schedules:
        raise ConfigError("no flow_schedules in settings: nothing to serve (docs/orchestration.md)")
    # Prefect reads its settings once, when imported: only once the server's URL is known.
    with prefect_server(settings) as server:
        from prefect import serve

        flows = _flows()
        deployments = to_deployments(parse_schedules(settings.flow_schedules, flows), flows)
        stop = threading.Event()
        sweeper = threading.Thread(target=_sweep_loop, args=(settings, stop), daemon=True)
        sweeper.start()
        typer.echo(f"Prefect UI: {server.ui_url}", err=True)
        try:
            serve(*deployments, limit=limit, print_starting_message=True)
        finally:
            stop.set()


def _sweep_loop(settings: Settings, stop: threading.Event) -> None:
    from studentops.flows.sweep import sweep_and_report

    while not stop.wait(settings.flow_sweep_interval_s):
        try:
            for run in sweep_and_report(settings):
                log.warning("swept stuck run %s of %s", run.run_name, run.flow_name)
        except Exception as exc:  # the next sweep tries again; serving must go on
            log.error("sweep failed: %s", exc)


def server_cmd() -> None:
    """Keep the home's Prefect server (and its UI) up until Ctrl-C."""
    from studentops.flows.server import prefect_server

    settings = load_settings()
    with prefect_server(settings) as server:
        typer.echo(f"Prefect UI: {server.ui_url}  (API {server.api_url}); Ctrl-C stops")
        if server.process is None:
            typer.echo("(already running; this command leaves it running)")
            return
        server.process.wait()


def sweep_cmd(
    older_than: Annotated[
        float | None, typer.Option(help="Seconds (default: flow_stuck_after_s).")
    ] = None,
) -> None:
    """Mark runs stuck in Running/Pending as Crashed now and report them."""
    from studentops.flows.server import prefect_server

    settings = load_settings()
    if older_than is not None:
        settings = settings.model_copy(update={"flow_stuck_after_s": older_than})
    with prefect_server(settings, ui=False):
        from studentops.flows.sweep import sweep_and_report

        swept = sweep_and_report(settings)
    typer.echo(f"swept {len(swept)} stuck run(s)")
    for run in swept:
        typer.echo(
            f"  {run.flow_name}/{run.run_name}: {run.stuck_state} for {run.stuck_for_s:.0f}s"
        )


def register(app: typer.Typer) -> None:
    """Add the ``flows`` group (list, run, serve, server, sweep) to the CLI app."""
    flows_app.command("list")(list_cmd)
    flows_app.command("run")(run_cmd)
    flows_app.command("serve")(serve_cmd)
    flows_app.command("server")(server_cmd)
    flows_app.command("sweep")(sweep_cmd)
    app.add_typer(flows_app, name="flows")
