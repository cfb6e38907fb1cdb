"""The events CLI and the weekly training frames, on small synthetic and made-up data."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from studentops.cli import _register_parts, app
from studentops.datasets.profile import load_profile
from studentops.datasets.validation import validate
from studentops.events.frames import PROFILE, oulad_weekly_features, to_profile_frame
from studentops.events.synthetic import generate_oulad

runner = CliRunner()


def _cli(*args: str) -> str:
    _register_parts()
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_features_command_on_oulad(tiny_oulad: Path, tmp_path: Path) -> None:
    out = tmp_path / "features.parquet"
    report = tmp_path / "report.json"
    text = _cli(
        "events",
        "features",
        "--oulad",
        str(tiny_oulad),
        "--weeks",
        "1-3",
        "--out",
        str(out),
        "--report",
        str(report),
    )
    assert "missing_key" in text
    frame = pl.read_parquet(out)
    assert frame.height == 9 and frame["week"].unique().sort().to_list() == [1, 2, 3]
    assert json.loads(report.read_text())["rules"]["missing_key"] == 1


def test_generate_writes_a_folder_the_adapter_reads(tmp_path: Path) -> None:
    _cli("events", "generate", "--students", "50", "--out", str(tmp_path / "syn"), "--seed", "3")
    out = tmp_path / "f.csv"
    _cli("events", "features", "--oulad", str(tmp_path / "syn"), "--weeks", "4", "--out", str(out))
    frame = pl.read_csv(out)
    assert frame.height == 50 and "clicks" in frame.columns


def test_synthetic_is_reproducible_and_outcome_shaped() -> None:
    a, b = generate_oulad(300, seed=1), generate_oulad(300, seed=1)
    assert all(a[name].equals(b[name]) for name in a)
    results = set(a["studentInfo"]["final_result"].unique())
    assert results == {"Pass", "Distinction", "Fail", "Withdrawn"}


def test_weekly_frames_fit_the_profile_at_every_week(synthetic: Path) -> None:
    profile = load_profile(PROFILE)
    features = oulad_weekly_features(synthetic, [0, 1, 6, 20, 40])
    for week in (0, 1, 6, 20, 40):
        frame = to_profile_frame(features.filter(pl.col("week") == week), profile)
        checked = validate(frame, profile)
        assert checked.rejected == 0, (week, checked.summary())
