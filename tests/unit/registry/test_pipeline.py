"""Training end to end on a small synthetic file: validate, train, log, register, promote, load.

A real training run (a few seconds of search), so this is the one slow test of the part.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from studentops.config import Settings
from studentops.registry import models, store
from studentops.tracking import client_for, experiment_name
from studentops.training.pipeline import train_and_register

from .toy import make_toy_frame, write_toy_profile


@pytest.fixture
def toy_files(tmp_path: Path) -> tuple[Path, Path]:
    frame = make_toy_frame(300, seed=3).astype(str)
    frame.loc[5, "attendance"] = "often"  # one row rejected with a reason
    data = tmp_path / "toy.csv"
    frame.to_csv(data, index=False)
    return write_toy_profile(tmp_path), data


@pytest.mark.slow
def test_train_logs_trials_model_and_registers_challenger(
    settings: Settings, toy_files: tuple[Path, Path]
) -> None:
    import mlflow.pyfunc

    profile_path, data = toy_files
    seen: list[int] = []
    outcome = train_and_register(
        str(profile_path),
        data,
        settings=settings,
        time_budget_s=8,
        on_trial=lambda record: seen.append(record.number),
    )
    result = outcome.result
    _check_model_card(settings, outcome)
    assert outcome.validation["rejected"] == 1 and outcome.rejects_path is not None
    assert "wrong type" in outcome.rejects_path.read_text()
    assert seen and len(result.trials) >= len(seen)

    client = client_for(settings)
    experiment = client.get_experiment_by_name(experiment_name("toy-dropout"))
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    parent = next(r for r in runs if r.info.run_id == outcome.run_id)
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == outcome.run_id]
    assert len(children) == len(result.trials)
    assert all("duration_s" in r.data.metrics for r in children)
    for child in children:  # a loaded machine may stop every trial at the budget: still logged
        complete = child.data.tags["studentops.trial_state"] == "complete"
        assert ("cv_score" in child.data.metrics) == complete
        assert (child.info.status == "FINISHED") == complete
    assert parent.data.params["data_fingerprint"] == result.data_fingerprint
    assert parent.data.tags["studentops.data_fingerprint"] == result.data_fingerprint
    for name, value in result.test_metrics.items():
        assert parent.data.metrics[f"test_{name}"] == pytest.approx(value)
    artifacts = {a.path for a in client.list_artifacts(outcome.run_id)}
    assert {"profile.yaml", "fairness.json", "validation", "reports"} <= artifacts

    assert outcome.version is not None and outcome.version.aliases == ["challenger"]
    decision = models.promote(client, "toy-dropout", margin=0.0, max_gap=1.0)
    assert decision.promoted
    model, info = store.load_champion("toy-dropout", settings)
    assert info.run_id == outcome.run_id and info.metrics == pytest.approx(result.test_metrics)
    rows = make_toy_frame(20, seed=9).drop(columns=["dropout"])
    rows["grade"] = pd.to_numeric(rows["grade"].replace("", None))
    proba = mlflow.pyfunc.load_model(info.uri).predict(rows)
    expected = model.predict_proba(rows)
    got = proba[[f"proba_{c}" for c in model.classes_]].to_numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


def _check_model_card(settings: Settings, outcome: object) -> None:
    """The version got its card at registration, in three formats, readable by version."""
    import json

    from studentops.registry.cards import CARD_TAG, model_card

    version = outcome.version  # type: ignore[attr-defined]
    client = client_for(settings)
    mv = client.get_model_version(version.name, version.version)
    assert mv.tags[CARD_TAG] == "model_card"
    markdown = model_card("toy-dropout", version.version, settings=settings)
    for section in (
        "## Intended use",
        "## Training data",
        "## Held-out metrics",
        "## Calibration",
        "## Operating threshold",
        "## Global reasons",
        "## Fairness",
        "## Sensitive attributes",
        "## Known limitations",
        "## Monitoring plan",
    ):
        assert section in markdown
    assert "admissions" in markdown and "of every 100" in markdown
    assert "*gender*" in markdown and "**largest gap**" in markdown
    page = model_card("toy-dropout", version.version, fmt="html", settings=settings)
    assert page.startswith("<!DOCTYPE html>") and "<table>" in page
    assert "<script" not in page and "src=" not in page and "href=" not in page  # offline
    card = json.loads(model_card("toy-dropout", fmt="json", settings=settings))  # newest
    assert card["version"] == version.version
    assert card["data"]["train_rows"] == outcome.result.train_rows  # type: ignore[attr-defined]
    assert sum(card["data"]["class_balance"]["test"].values()) == card["data"]["test_rows"]
    roc = card["intervals"]["roc_auc"]
    assert roc["low"] <= roc["value"] <= roc["high"]
    assert card["gate"]["verdict"] and "gender" in card["fairness"]["attributes"]
    assert 0 < card["operating"]["flagged_per_100"] < 100
