"""`promote`, `rollback` and `models` as a user sees them (in-process: MLflow imports slowly)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import typer
from typer.testing import CliRunner

from studentops.config import Settings
from studentops.errors import ModelError
from studentops.registry import commands, models
from studentops.registry.models import PromotionRefused
from studentops.tracking import client_for

PROFILE = "toy-dropout"


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Callable[..., object]:
    from rich.console import Console

    monkeypatch.setattr(commands, "console", Console(width=250))  # no wrapped lines
    app = typer.Typer()
    commands.register(app)
    runner = CliRunner()

    def invoke(*args: str) -> object:
        return runner.invoke(app, list(args))

    return invoke


@pytest.fixture
def register(settings: Settings) -> Callable[..., str]:
    client = client_for(settings)

    def make(score: float, gap: float = 0.05) -> str:
        run = client.create_run("0")
        return models.register_challenger(
            client,
            PROFILE,
            f"runs:/{run.info.run_id}/model",
            run_id=run.info.run_id,
            metric="f1_macro",
            test_metrics={"f1_macro": score, "accuracy": 0.9},
            fairness_gap=gap,
        ).version

    return make


def test_promote_refusal_names_the_gate_with_figures(
    settings: Settings, cli: Callable[..., object], register: Callable[..., str]
) -> None:
    register(0.70)
    first = cli("promote", "--profile", PROFILE)
    assert first.exit_code == 0, first.output  # type: ignore[attr-defined]
    assert "promoted studentops-toy-dropout v1 to @champion" in first.output  # type: ignore[attr-defined]

    register(0.65, gap=0.4)
    refused = cli("promote", "--profile", PROFILE)
    error = refused.exception  # type: ignore[attr-defined]
    assert isinstance(error, PromotionRefused) and error.exit_code == 1
    assert "score and fairness gate failed" in str(error)
    output = refused.output  # type: ignore[attr-defined]
    assert "FAIL score: challenger v2 f1_macro 0.6500 vs champion v1 0.7000" in output
    assert "FAIL fairness: max gap 0.4000 > allowed 0.2000" in output

    forced = cli("promote", "--profile", PROFILE, "--force")
    assert forced.exit_code == 0 and "by --force" in forced.output  # type: ignore[attr-defined]
    assert "previous champion: v1" in forced.output  # type: ignore[attr-defined]


def test_rollback_and_models_listing(
    settings: Settings, cli: Callable[..., object], register: Callable[..., str]
) -> None:
    register(0.70)
    cli("promote", "--profile", PROFILE)
    register(0.80)
    cli("promote", "--profile", PROFILE)
    listed = cli("models", "--profile", PROFILE, "--json")
    rows = json.loads(listed.output)  # type: ignore[attr-defined]
    assert [(r["version"], r["aliases"]) for r in rows] == [
        ("2", ["champion"]),
        ("1", ["previous-champion"]),
    ]
    assert rows[0]["test_metrics"] == {"f1_macro": 0.8, "accuracy": 0.9}

    back = cli("rollback", "--profile", PROFILE)
    assert "@champion is v1 again (was v2)" in back.output  # type: ignore[attr-defined]
    table = cli("models", "--profile", PROFILE)
    assert table.exit_code == 0  # type: ignore[attr-defined]
    for text in ("@champion", "f1_macro", "0.8000", "studentops-toy-dropout"):
        assert text in table.output  # type: ignore[attr-defined]


def test_models_without_any_version_is_a_user_error(
    settings: Settings, cli: Callable[..., object]
) -> None:
    result = cli("models", "--profile", "never-trained")
    assert isinstance(result.exception, ModelError)  # type: ignore[attr-defined]


def test_models_listing_reads_at_80_columns(
    settings: Settings, register: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from rich.console import Console

    monkeypatch.setattr(commands, "console", Console(width=80))
    app = typer.Typer()
    commands.register(app)
    register(0.70)
    CliRunner().invoke(app, ["promote", "--profile", PROFILE])
    out = CliRunner().invoke(app, ["models", "--profile", PROFILE]).output
    assert max(len(line) for line in out.splitlines()) <= 80
    for text in ("studentops-toy-dropout", "v1 @champion", "f1_macro", "0.7000", "fairness gap"):
        assert text in out, text
    assert "…" not in out  # nothing cut
