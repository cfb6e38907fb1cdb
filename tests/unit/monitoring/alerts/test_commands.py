"""`studentops alerts list` in an 80-column terminal: nothing cut, no line too long."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from studentops.config import load_settings
from studentops.monitoring.alerts import commands
from studentops.monitoring.alerts.engine import raise_alerts
from studentops.monitoring.alerts.rules import Observation


@pytest.mark.parametrize("history", [False, True])
def test_alerts_list_fits_80_columns(
    home: Path, monkeypatch: pytest.MonkeyPatch, history: bool
) -> None:
    settings = load_settings()
    settings.ensure_home()
    observed = [
        Observation("dataset_drift_share", 0.8),
        Observation("feature_drift", 3.0, "StudyTimeWeekly"),
    ]
    raise_alerts(settings, "student-performance", observed, channels=[]).wait(5)
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(commands, "console", Console())
    app = typer.Typer()
    commands.register(app)
    res = CliRunner().invoke(app, ["alerts", "list", *(["--history"] if history else [])])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert max(len(line) for line in lines) <= 80, res.output
    assert "student-performance" in res.output and "…" not in res.output
    assert "StudyTimeWeekly" in res.output
