"""Early warning end to end on real OULAD data: train on two finished presentations as of
week 6, promote, then ask "who is at risk now, in week 6?" of the third through the CLI."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from studentops.config import load_settings
from studentops.events.frames import weekly_training_frame
from studentops.registry.models import promote
from studentops.serving.predictor import RANK_RESOLUTION
from studentops.tracking import client_for
from studentops.training.pipeline import train_and_register

WEEK = 6


def _events_score(oulad: Path, out: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """``studentops events score`` for week WEEK of 2014B, as a user runs it; must succeed."""
    res = subprocess.run(
        [
            *(sys.executable, "-m", "studentops", "events", "score", "--week", str(WEEK)),
            *("--oulad", str(oulad), "--presentation", "2014B", "--out", str(out), *options),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    return res


def test_train_two_presentations_score_the_third_at_week_6(
    tmp_path: Path, home: Path, shared_data: Path
) -> None:
    from sklearn.metrics import roc_auc_score

    oulad = shared_data / "oulad"
    if not (oulad / "studentInfo.csv").is_file():
        pytest.skip(f"OULAD not found under {oulad}")
    frame = weekly_training_frame(WEEK, oulad)
    finished = frame[frame["presentation"].isin(["2013B", "2013J"])]
    running = frame[frame["presentation"] == "2014B"]
    data = tmp_path / "train.parquet"
    finished.to_parquet(data, index=False)
    settings = load_settings()
    outcome = train_and_register(
        "oulad-pass", data, settings=settings, time_budget_s=6, split="group", seed=1
    )
    assert outcome.version is not None
    promote(client_for(settings), "oulad-pass", margin=0.0, max_gap=1.0, force=True)

    out = tmp_path / "at-risk.csv"
    res = _events_score(oulad, out, "--explain", "5")
    assert "week 6 of 2014B" in res.stdout
    assert "no click log" in res.stdout  # the shared copy has no studentVle.csv
    assert re.search(r"bands: .+ \(.*high [\d,]+", res.stdout)  # the rule and the counts
    ranked = pd.read_csv(out, dtype={"enrolment_id": str})
    # Every enrolment still enrolled at the cut-off, once, ranked by risk, the top ones
    # explained; those already withdrawn are left out and counted.
    withdrawn = running["withdrawn"].astype(bool)
    assert set(ranked["presentation"]) == {"2014B"}
    assert len(ranked) == int((~withdrawn).sum()) and withdrawn.any()
    assert f"left out {int(withdrawn.sum()):,} students already withdrawn" in res.stdout
    assert not ranked["withdrawn"].astype(bool).any()
    everyone = len(running)
    running = running[~withdrawn]
    assert ranked["enrolment_id"].is_unique
    assert ranked["rank"].tolist() == list(range(1, len(ranked) + 1))
    # Risks within RANK_RESOLUTION are float noise, ordered by the model's log-odds instead.
    assert np.all(np.diff(ranked["risk_score"].to_numpy()) <= RANK_RESOLUTION)
    assert ranked["reasons"].head(5).str.contains("up:|down:").all()
    assert ranked["reasons"].iloc[5:].fillna("").eq("").all()
    # The ranked list means something: the students it ranks first did fail or withdraw more.
    truth = running.set_index(running["enrolment_id"].astype(str))["final_result"]
    at_risk = truth.reindex(ranked["enrolment_id"]).isin(["Fail", "Withdrawn"]).to_numpy()
    assert roc_auc_score(at_risk, ranked["risk_score"]) > 0.7
    # --include-withdrawn keeps every enrolment.
    everyone_out = tmp_path / "everyone.csv"
    res = _events_score(oulad, everyone_out, "--explain", "0", "--include-withdrawn")
    assert "left out" not in res.stdout
    assert len(pd.read_csv(everyone_out, usecols=["rank"])) == everyone
