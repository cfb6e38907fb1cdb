"""Promotion gates, aliases, rollback and listing against a real (SQLite) MLflow registry."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from studentops.config import Settings
from studentops.errors import ModelError
from studentops.registry import models
from studentops.registry.models import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS,
    VersionSummary,
    evaluate_gates,
    greater_is_better,
)
from studentops.tracking import client_for

PROFILE = "toy-dropout"


def summary(version: str, score: float, gap: float | None = 0.05, **kw: object) -> VersionSummary:
    metric = str(kw.pop("metric", "roc_auc"))
    return VersionSummary(
        name="studentops-toy",
        version=version,
        aliases=[],
        run_id=None,
        source=None,
        created=datetime.now(UTC),
        metric=metric,
        score=score,
        greater_is_better=greater_is_better(metric),
        fairness_gap=gap,
        algorithm="lgbm",
        data_fingerprint="same",
        test_metrics={metric: score, **kw.pop("tests", {})},  # type: ignore[dict-item]
    )


# -- pure gate logic ---------------------------------------------------------------------------


def test_first_model_passes_when_fair() -> None:
    gates = evaluate_gates(summary("1", 0.7), None, margin=0.01, max_gap=0.2)
    assert all(g.passed for g in gates)
    assert "no champion yet" in gates[0].detail


def test_better_passes_and_worse_fails_with_figures() -> None:
    champion = summary("1", 0.80)
    better = evaluate_gates(summary("2", 0.85), champion, margin=0.01, max_gap=0.2)
    assert [g.passed for g in better] == [True, True]
    worse = evaluate_gates(summary("3", 0.79), champion, margin=0.0, max_gap=0.2)
    assert not worse[0].passed
    assert "0.7900" in worse[0].detail and "0.8000" in worse[0].detail
    assert "-0.0100" in worse[0].detail


def test_margin_is_required_and_ties_never_pass() -> None:
    champion = summary("1", 0.80)
    assert not evaluate_gates(summary("2", 0.805), champion, margin=0.01, max_gap=1)[0].passed
    assert not evaluate_gates(summary("2", 0.80), champion, margin=0.0, max_gap=1)[0].passed


def test_lower_is_better_metrics() -> None:
    assert not greater_is_better("rmse") and not greater_is_better("log_loss")
    assert greater_is_better("neg_root_mean_squared_error") and greater_is_better("f1_macro")
    champion = summary("1", 10.0, metric="rmse")
    assert evaluate_gates(summary("2", 9.0, metric="rmse"), champion, margin=0.5, max_gap=1)[
        0
    ].passed
    assert not evaluate_gates(summary("3", 11.0, metric="rmse"), champion, margin=0, max_gap=1)[
        0
    ].passed


def test_unfair_fails_and_unmeasured_passes() -> None:
    gates = evaluate_gates(summary("1", 0.9, gap=0.31), None, margin=0, max_gap=0.2)
    assert gates[1].name == "fairness" and not gates[1].passed
    assert "0.3100 > allowed 0.2000" in gates[1].detail
    assert evaluate_gates(summary("1", 0.9, gap=None), None, margin=0, max_gap=0.2)[1].passed


def test_champion_on_another_metric_is_compared_on_the_challengers() -> None:
    champion = summary("1", 0.60, metric="f1_macro", tests={"roc_auc": 0.82})
    gate = evaluate_gates(summary("2", 0.84), champion, margin=0, max_gap=1)[0]
    assert gate.passed and "0.8200" in gate.detail
    lacking = summary("1", 0.60, metric="f1_macro")
    assert not evaluate_gates(summary("2", 0.84), lacking, margin=0, max_gap=1)[0].passed


# -- against the registry ------------------------------------------------------------------------


@pytest.fixture
def register(settings: Settings) -> Callable[..., str]:
    """Register a version (no model artifact needed for alias logic) as challenger."""
    client = client_for(settings)

    def make(score: float, gap: float | None = 0.05, metric: str = "roc_auc") -> str:
        exp = client.get_experiment_by_name("Default")
        run = client.create_run(exp.experiment_id if exp else "0")
        v = models.register_challenger(
            client,
            PROFILE,
            f"runs:/{run.info.run_id}/model",
            run_id=run.info.run_id,
            metric=metric,
            test_metrics={metric: score, "accuracy": score - 0.1},
            fairness_gap=gap,
            algorithm="lgbm",
            data_fingerprint="fp",
        )
        assert v.aliases == [CHALLENGER]
        return v.version

    return make


def promote(settings: Settings, **kw: object) -> models.PromotionDecision:
    return models.promote(
        client_for(settings),
        PROFILE,
        margin=settings.promote_margin,
        max_gap=settings.fairness_max_gap,
        **kw,  # type: ignore[arg-type]
    )


def aliases(settings: Settings) -> dict[str, str]:
    name = models.registered_model_name(PROFILE)
    return {k: str(v) for k, v in client_for(settings).get_registered_model(name).aliases.items()}


def test_promotion_flow(settings: Settings, register: Callable[..., str]) -> None:
    v1 = register(0.80)
    first = promote(settings)
    assert first.promoted and first.previous is None
    assert aliases(settings) == {CHAMPION: v1}

    v2 = register(0.78)
    refused = promote(settings)
    assert not refused.promoted and [g.name for g in refused.failed] == ["score"]
    assert aliases(settings) == {CHAMPION: v1, CHALLENGER: v2}

    v3 = register(0.90, gap=0.5)
    unfair = promote(settings)
    assert not unfair.promoted and [g.name for g in unfair.failed] == ["fairness"]

    v4 = register(0.85)
    better = promote(settings)
    assert better.promoted and better.previous == v1
    assert aliases(settings) == {CHAMPION: v4, PREVIOUS: v1}

    forced = promote(settings, force=True, version=v3)
    assert forced.promoted and forced.forced
    assert aliases(settings) == {CHAMPION: v3, PREVIOUS: v4}
    assert {v2, v3, v4} < {v.version for v in models.list_versions(client_for(settings), PROFILE)}


def test_rollback_walks_back_through_champions(
    settings: Settings, register: Callable[..., str]
) -> None:
    v1 = register(0.70)
    promote(settings)
    v2 = register(0.75)
    promote(settings)
    v3 = register(0.80)
    promote(settings)
    client = client_for(settings)
    back = models.rollback(client, PROFILE)
    assert (back.restored, back.demoted) == (v2, v3)
    assert aliases(settings) == {CHAMPION: v2, PREVIOUS: v1}
    assert models.rollback(client, PROFILE).restored == v1
    assert aliases(settings) == {CHAMPION: v1}
    with pytest.raises(ModelError, match="first champion"):
        models.rollback(client, PROFILE)


def test_errors_without_challenger_or_champion(
    settings: Settings, register: Callable[..., str]
) -> None:
    client = client_for(settings)
    with pytest.raises(ModelError, match="no challenger"):
        promote(settings)
    with pytest.raises(ModelError, match="no champion"):
        models.rollback(client, PROFILE)
    register(0.8)
    promote(settings)
    with pytest.raises(ModelError, match="no challenger"):
        promote(settings)


def test_listing_shows_aliases_and_metrics(
    settings: Settings, register: Callable[..., str]
) -> None:
    v1 = register(0.80, gap=0.1)
    promote(settings)
    v2 = register(0.70)
    listed = models.list_versions(client_for(settings), PROFILE)
    assert [v.version for v in listed] == [v2, v1]
    assert listed[0].aliases == [CHALLENGER] and listed[1].aliases == [CHAMPION]
    assert listed[1].test_metrics == {"roc_auc": 0.80, "accuracy": pytest.approx(0.70)}
    assert listed[1].fairness_gap == 0.1 and listed[1].metric == "roc_auc"
    assert models.list_versions(client_for(settings), "nothing-here") == []


def test_selection_metric_must_be_a_test_metric(settings: Settings) -> None:
    with pytest.raises(ModelError, match="not among the test metrics"):
        models.register_challenger(
            client_for(settings),
            PROFILE,
            "runs:/x/model",
            run_id=None,
            metric="roc_auc",
            test_metrics={"accuracy": 0.5},
            fairness_gap=None,
        )
