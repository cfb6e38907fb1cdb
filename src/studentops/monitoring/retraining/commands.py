"""CLI: ``studentops retrain --profile NAME --data NEW_LABELLED.csv``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from studentops.config import load_settings

console = Console()


def retrain_cmd(
    profile: Annotated[str, typer.Option("--profile", "-p", help="Profile to retrain.")],
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Newly labelled rows (CSV/Parquet: features, target, optional labelled_at). "
            "Default: the monitoring store's predictions that have outcomes.",
        ),
    ] = None,
    base_data: Annotated[
        Path | None,
        typer.Option("--base-data", help="Original training data (default: the champion's)."),
    ] = None,
    time_budget: Annotated[
        float | None, typer.Option("--time-budget", min=1, help="Training seconds.")
    ] = None,
    trigger: Annotated[str, typer.Option(help="Why this retraining runs (recorded).")] = (
        "manual (studentops retrain)"
    ),
    as_json: Annotated[bool, typer.Option("--json", help="Print the decision as JSON.")] = False,
) -> None:
    """Train a challenger on original plus new labelled data; promote it only through the gates."""
    from studentops.monitoring.retraining.retrain import retrain
    from studentops.monitoring.retraining.sources import new_labelled_rows
    from studentops.tracking import quiet_library_logs

    quiet_library_logs(optuna=True)
    settings = load_settings()
    new = data if data is not None else new_labelled_rows(settings, profile)
    outcome = retrain(
        settings, profile, new, trigger=trigger, base_data=base_data, time_budget_s=time_budget
    )
    decision = outcome.decision
    if outcome.delivery is not None:
        outcome.delivery.wait(60)
    if as_json:
        typer.echo(json.dumps(decision.as_dict(), indent=2))
        return
    print_decision(console, decision)


def print_decision(out: Console, decision: object) -> None:
    """The decision as a few readable lines (also used by the demo)."""
    from studentops.monitoring.retraining.decision import RetrainDecision

    assert isinstance(decision, RetrainDecision)
    message = decision.message()
    colour = "green" if decision.promoted else "yellow"
    out.print(f"[bold {colour}]{message.title}[/]")
    out.print(f"  {message.amount}")
    for line in message.details:
        out.print(f"  {line}")
    out.print(f"  decision id {decision.id} (MLflow tag studentops.retrain.{decision.id})")


def register(app: typer.Typer) -> None:
    """Add the ``retrain`` command to the CLI app."""
    app.command("retrain")(retrain_cmd)
