"""Train and register with a final fit: what MLflow, the card and ``models`` say about it;
the user's test file; the trial budget recorded as such."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from studentops.config import Settings
from studentops.errors import DataError
from studentops.tracking import client_for
from studentops.training.pipeline import train_and_register

from .toy import make_toy_frame, write_toy_profile


@pytest.fixture
def toy_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    data, test = tmp_path / "toy.csv", tmp_path / "kept.csv"
    make_toy_frame(300, seed=3).astype(str).to_csv(data, index=False)
    make_toy_frame(120, seed=8).astype(str).to_csv(test, index=False)
    return write_toy_profile(tmp_path), data, test


def test_registered_and_evaluated_models_are_named_everywhere(
    settings: Settings, toy_files: tuple[Path, Path, Path]
) -> None:
    from studentops.registry.cards import model_card

    profile, data, test = toy_files
    outcome = train_and_register(
        str(profile), data, settings=settings, time_budget_s=None, n_trials=2, test_data=test
    )
    result = outcome.result
    assert result.train_rows == 300 and result.test_rows == 120
    assert result.final_fit["refitted"] and result.registered_rows == 300
    run = client_for(settings).get_run(outcome.run_id)
    assert run.data.params["budget_mode"] == "trials" and run.data.params["final_fit"] == "all"
    assert run.data.params["registered_rows"] == "300"
    assert run.data.tags["studentops.registered_fit"] == "all 300 rows"
    assert "evaluated model" in run.data.tags["studentops.final_fit"]
    assert outcome.version is not None and outcome.version.registered_fit == "all 300 rows"
    card = model_card("toy-dropout", outcome.version.version, settings=settings)
    assert "Registered model: the chosen members refitted on all 300 validated rows" in card
    assert "no held-out figure of its own" in card

    res = subprocess.run(
        [sys.executable, "-m", "studentops", "models", "-p", str(profile), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert '"registered_fit": "all 300 rows"' in res.stdout


def test_holdout_final_fit_registers_the_evaluated_model(
    settings: Settings, toy_files: tuple[Path, Path, Path]
) -> None:
    profile, data, _ = toy_files
    outcome = train_and_register(
        str(profile), data, settings=settings, time_budget_s=None, n_trials=2, final_fit="holdout"
    )
    assert outcome.version is not None
    assert outcome.version.registered_fit == f"train part {outcome.result.train_rows} rows"


def test_a_test_file_without_valid_rows_is_a_data_error(
    settings: Settings, toy_files: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    profile, data, _ = toy_files
    bad = tmp_path / "bad.csv"
    bad.write_text("something,else\n1,2\n", encoding="utf-8")
    with pytest.raises(DataError, match="test data"):
        train_and_register(str(profile), data, settings=settings, n_trials=1, test_data=bad)
    args = ["train", "-p", str(profile), "-d", str(data), "--trials", "1", "--test-data", str(bad)]
    res = subprocess.run(
        [sys.executable, "-m", "studentops", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and "test data" in res.stderr
