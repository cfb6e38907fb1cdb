"""`studentops fairness` prints a registered version's audit; its gate figure lives in tags."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import typer
from typer.testing import CliRunner

from studentops.config import Settings
from studentops.registry import models
from studentops.tracking import client_for
from studentops.training import commands
from studentops.training.fairness import fairness_report


def _register(settings: Settings, report: dict[str, Any]) -> models.VersionSummary:
    client = client_for(settings)
    run = client.create_run("0")
    client.log_text(run.info.run_id, json.dumps(report), "fairness.json")
    gate = report["gate"]
    return models.register_challenger(
        client,
        "toy-dropout",
        f"runs:/{run.info.run_id}/model",
        run_id=run.info.run_id,
        metric="roc_auc",
        test_metrics={"roc_auc": 0.9},
        fairness_gap=gate.get("gap"),
        fairness_figure=gate,
    )


def test_fairness_command_prints_tables_and_gate(
    settings: Settings, toy_model: Any, toy_valid: pd.DataFrame, monkeypatch: Any
) -> None:
    from rich.console import Console

    report = fairness_report(toy_model, toy_valid)
    version = _register(settings, report)
    gate = report["gate"]
    assert version.fairness_low == gate["low"] and version.fairness_high == gate["high"]
    assert "gender" in (version.fairness_detail or "")

    monkeypatch.setattr(commands, "console", Console(width=250))
    app = typer.Typer()
    commands.register(app)
    runner = CliRunner()
    shown = runner.invoke(app, ["fairness", "--profile", "toy-dropout"])
    assert shown.exit_code == 0, shown.output
    assert "studentops-toy-dropout v1" in shown.output
    for word in ("gender", "FNR", "AUC", "largest gap", "fairness gate"):
        assert word in shown.output
    assert f"{report['attributes']['gender']['groups']['f']['count']}" in shown.output
    as_json = runner.invoke(
        app, ["fairness", "--profile", "toy-dropout", "--json", "--version", "1"]
    )
    assert json.loads(as_json.output)["gate"]["attribute"] == "gender"
    missing = runner.invoke(app, ["fairness", "--profile", "toy-dropout", "--version", "9"])
    assert missing.exit_code != 0


def test_fairness_command_fits_80_columns(
    settings: Settings, toy_model: Any, toy_valid: pd.DataFrame, monkeypatch: Any
) -> None:
    from rich.console import Console

    report = fairness_report(toy_model, toy_valid)
    _register(settings, report)
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(commands, "console", Console())
    app = typer.Typer()
    commands.register(app)
    shown = CliRunner().invoke(app, ["fairness", "--profile", "toy-dropout"])
    assert shown.exit_code == 0, shown.output
    assert max(len(line) for line in shown.output.splitlines()) <= 80, shown.output
    for word in ("gender", "FNR", "largest gap", "fairness gate"):
        assert word in shown.output
    assert f"{report['attributes']['gender']['groups']['f']['count']}" in shown.output
