"""CLI for the early-warning study: ``events evaluate`` (and a top-level ``evaluate``).

Thin: parses the options and calls
:func:`studentops.training.early_warning.study.evaluation_report`. The command joins the
``events`` group (:data:`studentops.events.commands.events_app`): a user finds it beside the
other event-log commands, while the code that trains models stays in training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from studentops.events.commands import WeeksOpt, events_app


def evaluate_cmd(
    weeks: WeeksOpt = "2-30:2",
    profile: Annotated[
        str, typer.Option("--profile", "-p", help="Only oulad-pass is supported.")
    ] = "oulad-pass",
    time_budget: Annotated[
        float, typer.Option("--time-budget", help="Seconds of training per week.")
    ] = 20.0,
    split: Annotated[
        str, typer.Option("--split", help="group (by student) or presentation (latest one tested).")
    ] = "group",
    oulad: Annotated[
        Path | None, typer.Option("--oulad", help="OULAD folder (default: data_dir/oulad).")
    ] = None,
    model: Annotated[
        str,
        typer.Option(
            "--model", help="search (the platform's train_model) or baseline (one LightGBM)."
        ),
    ] = "search",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Folder for the table (CSV) and plot (PNG) (default: <home>/reports/"
            "early-warning).",
        ),
    ] = None,
) -> None:
    """Early warning by week: train per cut-off week, report ROC-AUC, recall@P0.8 and F1."""
    from studentops.events.weekly import weeks_arg
    from studentops.tracking import quiet_library_logs
    from studentops.training.early_warning.study import evaluation_report

    quiet_library_logs(optuna=True)
    report = evaluation_report(
        weeks_arg(weeks),
        time_budget,
        profile=profile,
        oulad_dir=oulad,
        split=split,
        model=model,
        out=out,
    )
    typer.echo(report.evaluation.to_text())
    typer.echo(
        f"model: {report.evaluation.model}; table {report.table_path}; plot {report.plot_path}"
    )


def register(app: typer.Typer) -> None:
    """Add ``events evaluate`` and, unless another part took the name, a top-level ``evaluate``."""
    events_app.command("evaluate")(evaluate_cmd)
    taken = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    if "evaluate" not in taken:
        app.command("evaluate")(evaluate_cmd)
