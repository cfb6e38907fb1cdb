"""Gated retraining end to end, with a real API serving the champion the whole time.

A champion is trained on one cohort and served by ``studentops serve`` (a real process on a
free loopback port, polling the registry every second). Drifted students whose outcomes follow
a new relation arrive; the champion's performance on them is measured, the ``performance-drop``
rule fires, and a challenger is trained (small budget) and judged on recent rows neither model
saw. Both ways are shown: a better challenger is promoted and served (hot swap, zero failed
requests); a worse one is refused and the API keeps serving the champion.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from loopback import free_port, running_server

from studentops.config import Settings, load_settings

PROFILE = "uci-dropout-binary"


@dataclass
class World:
    settings: Settings
    url: str
    champion: str
    record: dict[str, Any]
    home: Path


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, mlflow_ready: Callable[[Path], Path]
) -> Iterator[World]:
    from studentops.datasets.profile import load_profile
    from studentops.datasets.synthetic import generate_cohort
    from studentops.registry import models
    from studentops.tracking import client_for
    from studentops.training.pipeline import train_and_register

    home = mlflow_ready(tmp_path_factory.mktemp("retrain-home"))
    config = home / "studentops.yaml"
    # Gates as a school would set them; the fairness gap is looser than the default 0.2
    # because the evaluation window is a few hundred students split over many nationalities.
    config.write_text(
        "promote_margin: 0.02\nfairness_max_gap: 0.35\nretrain_min_eval_rows: 50\n"
        "alert_rules:\n"
        "  - {name: performance-drop, kind: performance_drop, metric: roc_auc, threshold: 0.05,\n"
        "     severity: critical, cooldown_hours: 24, retrain: true}\n"
    )
    settings = load_settings(config_file=config, home=home)
    profile = load_profile(PROFILE)
    base = home / "original.csv"
    generate_cohort(profile, 1500, seed=1).to_csv(base, index=False)
    outcome = train_and_register(PROFILE, base, settings=settings, time_budget_s=4, seed=1)
    assert outcome.version is not None
    decision = models.promote(client_for(settings), PROFILE, margin=0.0, max_gap=1.0)
    assert decision.promoted

    port = free_port()
    env = {
        **os.environ,
        "STUDENTOPS_HOME": str(home),
        "STUDENTOPS_CONFIG": str(config),
        "STUDENTOPS_RELOAD_INTERVAL_S": "1",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    exe = Path(sys.executable).parent / "studentops"
    argv = [str(exe), "serve", "--profile", PROFILE, "--port", str(port), "--workers", "1"]
    url = f"http://127.0.0.1:{port}"
    record = generate_cohort(profile, 1, seed=9).drop(columns=["Target"]).iloc[0].to_dict()
    record = {k: (v.item() if hasattr(v, "item") else v) for k, v in record.items()}
    with running_server(argv, folder=home / "api", ready=f"{url}/ready", name="serve", env=env):
        yield World(settings, url, outcome.version.version, record, home)


@dataclass
class Traffic:
    """Requests sent to the API from a thread for as long as the test runs."""

    url: str
    record: dict[str, Any]
    answers: list[tuple[int, str | None]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self.stop.is_set():
                try:
                    r = client.post("/v1/predict", json=self.record)
                    version = r.json().get("model_version") if r.status_code == 200 else None
                    self.answers.append((r.status_code, version))
                except Exception as exc:  # a refused or broken connection is a failure too
                    self.errors.append(repr(exc))
                time.sleep(0.02)

    def __enter__(self) -> Traffic:
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(15)

    def versions(self) -> list[str | None]:
        return [v for _, v in self.answers]


def _new_term(rows: int, seed: int, relation_changed: bool) -> pd.DataFrame:
    """Drifted students with outcomes, stamped with when each outcome arrived.

    With ``relation_changed`` the outcome follows a new rule (students in regions with high
    unemployment drop out): what a model trained on earlier terms cannot know.
    """
    from studentops.datasets.profile import load_profile
    from studentops.datasets.synthetic import generate_cohort

    profile = load_profile(PROFILE)
    frame = generate_cohort(profile, rows, seed=seed, drifts=["Age at enrollment:+15%"])
    if relation_changed:
        high = frame["Unemployment rate"] > frame["Unemployment rate"].median()
        frame["Target"] = np.where(high, "Dropout", "Graduate")
    start = pd.Timestamp.now(tz="UTC") - pd.Timedelta(days=20)
    frame["labelled_at"] = start + pd.to_timedelta(np.arange(rows) * 10, unit="min")
    return frame


def _observe(settings: Settings, champion: str, frame: pd.DataFrame) -> list[Any]:
    """The champion's measured performance on the labelled rows, as the monitoring check
    reports it (roc_auc now vs its registered test roc_auc)."""
    from studentops.datasets.profile import load_profile
    from studentops.datasets.validation import validate
    from studentops.monitoring.alerts.rules import Observation
    from studentops.registry.models import get_version, registered_model_name
    from studentops.registry.store import load_student_model
    from studentops.tracking import client_for
    from studentops.training.evaluate import evaluate_model

    name = registered_model_name(PROFILE)
    model, _ = load_student_model(f"models:/{name}/{champion}", settings)
    valid = validate(frame, load_profile(PROFILE)).valid
    now_auc = evaluate_model(model, valid)["roc_auc"]
    reference = get_version(client_for(settings), name, champion).test_metrics["roc_auc"]
    return [Observation("performance_drop", reference - now_auc, "roc_auc", reference=reference)]


def test_rule_fires_better_challenger_is_promoted_and_served_without_failures(
    world: World,
) -> None:
    from studentops.monitoring.alerts.engine import raise_alerts
    from studentops.monitoring.retraining.decision import read_decisions
    from studentops.monitoring.retraining.trigger import retrain_on_alerts
    from studentops.registry.models import get_version, registered_model_name
    from studentops.tracking import client_for

    settings = world.settings
    new = _new_term(1600, seed=5, relation_changed=True)
    with Traffic(world.url, world.record) as traffic:
        time.sleep(1)
        run = raise_alerts(settings, PROFILE, _observe(settings, world.champion, new))
        assert [t.event for t in run.transitions] == ["fired"]
        assert run.retrain_wanted, "the performance-drop rule asks for retraining"
        outcome = retrain_on_alerts(settings, run, PROFILE, new, time_budget_s=5)
        assert outcome is not None
        decision = outcome.decision
        assert decision.promoted, decision.reason
        assert decision.challenger_score > decision.champion_score + 0.02
        new_version = decision.challenger_version
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and new_version not in traffic.versions()[-5:]:
            time.sleep(0.2)
        time.sleep(0.5)
    run.wait(10)
    statuses = {s for s, _ in traffic.answers}
    assert traffic.errors == [] and statuses == {200}, (traffic.errors[:3], statuses)
    versions = traffic.versions()
    assert len(versions) > 50
    first_new = versions.index(new_version)
    # Old version until the swap, the new one after it: no request saw anything else.
    assert set(versions[:first_new]) == {world.champion}
    assert set(versions[first_new:]) == {new_version}

    artifacts = Path(
        os.environ.get(
            "STUDENTOPS_TEST_ARTIFACTS", Path(__file__).parents[3] / "build" / "test-artifacts"
        )
    )
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / "retrain-decision.json").write_text(json.dumps(decision.as_dict(), indent=2))
    # Recorded: a row in the monitoring store and tags on both versions.
    (row,) = [r for r in read_decisions(settings.prediction_log, PROFILE) if r["id"] == decision.id]
    assert row["outcome"] == "promoted" and "performance-drop" in row["trigger"]
    assert row["champion_version"] == world.champion and row["challenger_version"] == new_version
    assert {g["name"] for g in row["gates"]} == {"score", "fairness"}
    client = client_for(settings)
    name = registered_model_name(PROFILE)
    for version in (world.champion, new_version):
        tags = client.get_model_version(name, version).tags
        assert tags["studentops.retrain.outcome"] == "promoted"
        assert f"studentops.retrain.{decision.id}" in tags
    assert "champion" in get_version(client, name, new_version).aliases
    # Announced: with no channel configured, in the local alert file.
    outcome.delivery.wait(10)
    lines = (world.home / "alerts" / "alerts.jsonl").read_text().splitlines()
    assert any("promoted to champion" in line for line in lines)
    assert any("Performance dropped by more than 0.05" in line for line in lines)  # the rule


def test_worse_challenger_is_not_promoted_and_the_champion_keeps_serving(world: World) -> None:
    from studentops.monitoring.retraining.retrain import retrain
    from studentops.registry.models import CHAMPION, registered_model_name, version_by_alias
    from studentops.tracking import client_for

    client = client_for(world.settings)
    name = registered_model_name(PROFILE)
    champion = version_by_alias(client, name, CHAMPION)
    assert champion is not None
    # Only 140 new students to learn from (the original data left out), judged on the next 60.
    settings = world.settings.model_copy(update={"retrain_include_original": False})
    base_rows = pd.read_csv(world.home / "original.csv")
    sample = base_rows.sample(200, random_state=3).reset_index(drop=True)
    with Traffic(world.url, world.record) as traffic:
        outcome = retrain(settings, PROFILE, sample, time_budget_s=4, trigger="test: tiny window")
        time.sleep(2.5)  # two registry polls
    decision = outcome.decision
    assert not decision.promoted
    assert decision.champion_score is not None
    assert decision.challenger_score < decision.champion_score + 0.02
    assert "score gate failed" in decision.reason
    assert version_by_alias(client, name, CHAMPION).version == champion.version
    assert traffic.errors == [] and {s for s, _ in traffic.answers} == {200}
    assert set(traffic.versions()) == {champion.version}
    tags = client.get_model_version(name, decision.challenger_version).tags
    assert tags["studentops.retrain.outcome"] == "kept"
