"""Rules, alert state and cooldown, against a real SQLite alert store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from studentops.errors import ConfigError
from studentops.monitoring.alerts.engine import apply_evaluations
from studentops.monitoring.alerts.rules import (
    DEFAULT_RULES,
    Observation,
    evaluate_rules,
    load_rules,
)
from studentops.monitoring.alerts.store import AlertStore

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> AlertStore:
    s = AlertStore(f"sqlite:///{tmp_path / 'mon.db'}")
    yield s
    s.close()


def test_default_rules_load_and_bad_rules_name_the_field() -> None:
    assert len(load_rules(None)) == len(DEFAULT_RULES)
    with pytest.raises(ConfigError, match=r"alert_rules\.0\.threshold"):
        load_rules([{"name": "x", "kind": "dataset_drift_share"}])
    with pytest.raises(ConfigError, match=r"alert_rules\.0\.kind"):
        load_rules([{"name": "x", "kind": "vibes", "threshold": 1}])
    with pytest.raises(ConfigError, match="repeat"):
        load_rules([{"name": "x", "kind": "fairness_gap", "threshold": 0.1}] * 2)


def test_direction_filters_and_strict_threshold() -> None:
    rules = load_rules(
        [
            {"name": "share", "kind": "dataset_drift_share", "threshold": 0.3},
            {"name": "recall", "kind": "performance_below", "metric": "recall", "threshold": 0.6},
            {"name": "age", "kind": "feature_drift", "threshold": 1, "features": ["Age"]},
            {"name": "other", "kind": "fairness_gap", "threshold": 0.1, "profiles": ["other"]},
        ]
    )
    obs = [
        Observation("dataset_drift_share", 0.3),  # equal: does not fire
        Observation("performance_below", 0.55, "recall"),
        Observation("performance_below", 0.10, "brier"),  # not this rule's metric
        Observation("feature_drift", 2.0, "Age"),
        Observation("feature_drift", 9.0, "Absences"),  # not in the rule's features
        Observation("fairness_gap", 0.5),  # rule is for another profile
    ]
    got = {(e.rule.name, e.subject): e.active for e in evaluate_rules(rules, obs, "p")}
    assert got == {("share", ""): False, ("recall", "recall"): True, ("age", "Age"): True}


def test_fire_cooldown_repeat_resolve(store: AlertStore) -> None:
    rules = load_rules(
        [{"name": "drift", "kind": "dataset_drift_share", "threshold": 0.3, "cooldown_hours": 6}]
    )

    def run(value: float, at: datetime) -> list[str]:
        evs = evaluate_rules(rules, [Observation("dataset_drift_share", value, since=T0)], "p")
        return [t.event for t in apply_evaluations(store, "p", evs, now=at)]

    assert run(0.5, T0) == ["fired"]
    assert run(0.6, T0 + timedelta(hours=1)) == []  # within the cooldown: nothing sent
    assert run(0.6, T0 + timedelta(hours=5, minutes=59)) == []
    assert run(0.7, T0 + timedelta(hours=6)) == ["repeated"]
    assert run(0.1, T0 + timedelta(hours=7)) == ["resolved"]
    assert run(0.1, T0 + timedelta(hours=8)) == []  # stays resolved, silently
    assert run(0.9, T0 + timedelta(hours=9)) == ["fired"]  # fires again at once

    state = store.get("p", "drift", "")
    assert state is not None and state.state == "firing" and state.value == 0.9
    events = [h["event"] for h in reversed(store.history("p"))]
    assert events == ["fired", "repeated", "resolved", "fired"]


def test_missing_observation_keeps_state(store: AlertStore) -> None:
    rules = load_rules([{"name": "recall", "kind": "performance_below", "threshold": 0.6}])
    evs = evaluate_rules(rules, [Observation("performance_below", 0.4, "recall")], "p")
    apply_evaluations(store, "p", evs, now=T0)
    # The next check has no outcomes yet: no observation, no resolution.
    assert apply_evaluations(store, "p", evaluate_rules(rules, [], "p"), now=T0) == []
    assert store.get("p", "recall", "recall").state == "firing"


def test_messages_say_what_since_how_much_and_link(store: AlertStore) -> None:
    rules = load_rules([{"name": "drift", "kind": "dataset_drift_share", "threshold": 0.3}])
    obs = Observation("dataset_drift_share", 0.45, since=T0, report_url="file:///r/report.html")
    (t,) = apply_evaluations(store, "p", evaluate_rules(rules, [obs], "p"), now=T0)
    text = t.message.text()
    assert "Share of drifted features is above 0.3" in text
    assert "Since: 2026-03-01 08:00 UTC" in text
    assert "0.45 vs threshold 0.3 (+0.15)" in text
    assert "Report: file:///r/report.html" in text
    assert t.message.subject.startswith("[WARNING] studentops p: firing:")


def test_one_message_per_rule_listing_features_worst_first(store: AlertStore) -> None:
    from studentops.monitoring.alerts.engine import grouped_messages

    rules = load_rules([{"name": "feature-drift", "kind": "feature_drift", "threshold": 1.0}])
    obs = [
        Observation("feature_drift", 1.5, "Age", since=T0),
        Observation("feature_drift", 4.2, "Absences", since=T0),
        Observation("feature_drift", 0.4, "GPA", since=T0),
    ]
    transitions = apply_evaluations(store, "p", evaluate_rules(rules, obs, "p"), now=T0)
    ((group, message),) = grouped_messages(transitions, "p")
    assert len(group) == 2
    assert message.title == "Feature drift above 1x its threshold: 2 of them (Absences, Age)"
    assert message.amount.startswith("worst Absences: 4.2x vs threshold 1x")
    assert message.details == (
        "Absences: 4.2x vs threshold 1x (+3.2x)",
        "Age: 1.5x vs threshold 1x (+0.5x)",
    )
