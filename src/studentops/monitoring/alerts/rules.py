"""Alert rules: conditions over monitoring observations, with a severity and a cooldown.

A check (drift, performance, the services' health) is turned into :class:`Observation`s, one
number each: the share of drifted features, one feature's drift score, the recall of the
current window, the hours since the last logged prediction. A rule names a ``kind`` of
observation, a threshold and a direction fixed by the kind (a drift share fires *above* its
threshold, a performance *below* it). Rules come from ``alert_rules`` in ``studentops.yaml``::

    alert_rules:
      - {name: drift, kind: dataset_drift_share, threshold: 0.3, severity: warning,
         cooldown_hours: 24}
      - {name: recall, kind: performance_below, metric: recall, threshold: 0.6,
         severity: critical}

Evaluation is a pure function (:func:`evaluate_rules`); state and cooldown live in the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from studentops.monitoring.alerts.settings import validate_named

Direction = Literal["above", "below"]


@dataclass(frozen=True)
class Kind:
    """A kind of observation: which way is bad, what the number means, its unit, and the
    title of its alert (``{subject}``, ``{direction}``, ``{threshold}`` filled in)."""

    direction: Direction
    meaning: str
    title: str
    unit: str = ""


KINDS: dict[str, Kind] = {
    "dataset_drift_share": Kind(
        "above",
        "share of features that drifted",
        "Share of drifted features is {direction} {threshold}",
    ),
    "feature_drift": Kind(
        "above",
        "a feature's drift statistic in multiples of its own threshold (1 = at the threshold)",
        "Feature drift {direction} {threshold}x its threshold",
        "x",
    ),
    "performance_below": Kind(
        "below", "performance on labelled predictions", "Performance {direction} {threshold}"
    ),
    "performance_drop": Kind(
        "above",
        "drop of performance from the reference (reference - now)",
        "Performance dropped by more than {threshold}",
    ),
    "fairness_gap": Kind(
        "above",
        "largest gap in recall of at-risk students between groups",
        "Fairness gap {direction} {threshold}",
    ),
    "unseen_categories": Kind(
        "above",
        "share of values in a category the model never saw",
        "Unseen categories {direction} {threshold} of values",
    ),
    "missing_surge": Kind(
        "above",
        "rise in the share of missing values over the reference",
        "Missing values up by more than {threshold}",
    ),
    "prediction_log_dropped": Kind(
        "above",
        "prediction-log rows dropped",
        "Prediction log dropped rows (more than {threshold})",
        " rows",
    ),
    "no_predictions_hours": Kind(
        "above",
        "time since the last logged prediction",
        "No predictions logged for more than {threshold} h",
        " h",
    ),
    "champion_age_days": Kind(
        "above",
        "age of the champion model",
        "Champion model older than {threshold} days",
        " days",
    ),
}


class RuleSpec(BaseModel):
    """One rule as written in settings."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    kind: Literal[
        "dataset_drift_share",
        "feature_drift",
        "performance_below",
        "performance_drop",
        "fairness_gap",
        "unseen_categories",
        "missing_surge",
        "prediction_log_dropped",
        "no_predictions_hours",
        "champion_age_days",
    ]
    threshold: float
    severity: Literal["info", "warning", "critical"] = "warning"
    cooldown_hours: float = Field(24.0, ge=0)
    metric: str | None = Field(None, description="performance_*: only this metric.")
    features: list[str] | None = Field(None, description="per-feature kinds: only these.")
    profiles: list[str] | None = Field(None, description="Only these profiles (default: all).")
    retrain: bool = Field(False, description="A firing of this rule starts a retraining.")

    @property
    def direction(self) -> Direction:
        """Whether the rule fires above or below its threshold (fixed by its kind, see
        ``KINDS``)."""
        return KINDS[self.kind].direction


# Built-in rules. A feature counts as drifted when its statistic passes the monitoring check's
# own threshold for it (settings.monitor_thresholds), hence 1.0x. The dataset share of 0.3 is
# Evidently's dataset-drift default (0.5) made stricter for profiles of 10-40 features; a 0.05
# drop of the selection metric is the smallest a school would act on (our choice, stated in
# docs/alerts.md); the fairness gap matches the promotion gate's default (fairness_max_gap).
DEFAULT_RULES: list[dict[str, object]] = [
    {"name": "dataset-drift", "kind": "dataset_drift_share", "threshold": 0.3,
     "severity": "warning", "cooldown_hours": 24, "retrain": True},
    {"name": "feature-drift", "kind": "feature_drift", "threshold": 1.0,
     "severity": "info", "cooldown_hours": 24},
    {"name": "performance-drop", "kind": "performance_drop", "threshold": 0.05,
     "severity": "critical", "cooldown_hours": 24, "retrain": True},
    {"name": "fairness-gap", "kind": "fairness_gap", "threshold": 0.2,
     "severity": "critical", "cooldown_hours": 24},
    {"name": "unseen-categories", "kind": "unseen_categories", "threshold": 0.01,
     "severity": "warning", "cooldown_hours": 24},
    {"name": "missing-surge", "kind": "missing_surge", "threshold": 0.1,
     "severity": "warning", "cooldown_hours": 24},
    {"name": "prediction-log-dropped", "kind": "prediction_log_dropped", "threshold": 0,
     "severity": "critical", "cooldown_hours": 1},
    {"name": "no-predictions", "kind": "no_predictions_hours", "threshold": 48,
     "severity": "warning", "cooldown_hours": 24},
    {"name": "champion-age", "kind": "champion_age_days", "threshold": 365,
     "severity": "info", "cooldown_hours": 168},
]  # fmt: skip

_rules = TypeAdapter(list[RuleSpec])


def load_rules(raw: list[dict[str, object]] | None) -> list[RuleSpec]:
    """Check rule settings (None: the built-in rules); raises ConfigError naming the field."""
    return validate_named(_rules, DEFAULT_RULES if raw is None else raw, "alert_rules", "rule")


@dataclass(frozen=True)
class Observation:
    """One number a check produced.

    Attributes:
        kind: a key of :data:`KINDS`.
        value: the number, in the kind's unit (shares in 0..1, hours, days, rows).
        subject: the feature or metric it is about ("" for one value per check).
        since: when the current window began (None: unknown).
        reference: the reference value, for the message (e.g. the reference recall).
        report_url: the report of the check that produced it.
    """

    kind: str
    value: float
    subject: str = ""
    since: datetime | None = None
    reference: float | None = None
    report_url: str | None = None


@dataclass(frozen=True)
class Evaluation:
    """A rule applied to one observation: whether its condition holds, and by how much."""

    rule: RuleSpec
    observation: Observation
    active: bool

    @property
    def subject(self) -> str:
        """What the observation is about (a feature, a metric, a group), or "" for the whole
        model."""
        return self.observation.subject

    @property
    def title(self) -> str:
        """The alert's title: the kind's wording with direction and threshold, then the subject."""
        kind = KINDS[self.rule.kind]
        text = kind.title.format(direction=self.rule.direction, threshold=_num(self.rule.threshold))
        return f"{text}: {self.subject}" if self.subject else text

    @property
    def amount(self) -> str:
        """By how much: the observed value against the threshold and the gap, in the kind's unit
        (and the reference value when the observation has one).
        """
        kind = KINDS[self.rule.kind]
        obs = self.observation
        gap = obs.value - self.rule.threshold
        text = (
            f"{_num(obs.value)}{kind.unit} vs threshold {_num(self.rule.threshold)}{kind.unit} "
            f"({'+' if gap >= 0 else '-'}{_num(abs(gap))}{kind.unit})"
        )
        if obs.reference is not None:
            text += f"; reference {_num(obs.reference)}{kind.unit}"
        return text


def _num(value: float) -> str:
    if float(value).is_integer() and abs(value) >= 1:
        return f"{int(value)}"
    return f"{value:.3g}" if abs(value) >= 0.001 or value == 0 else f"{value:.2e}"


def _matches(rule: RuleSpec, obs: Observation, profile: str) -> bool:
    if obs.kind != rule.kind:
        return False
    if rule.profiles is not None and profile not in rule.profiles:
        return False
    if rule.metric is not None and obs.subject != rule.metric:
        return False
    return rule.features is None or obs.subject in rule.features


def evaluate_rules(
    rules: list[RuleSpec], observations: list[Observation], profile: str
) -> list[Evaluation]:
    """Every (rule, observation) pair that matches, with whether the condition holds.

    A value equal to the threshold does not fire (``above`` means strictly above). A rule with
    no matching observation yields nothing, so its alert keeps its state: missing outcomes do
    not resolve a performance alert.
    """
    out = []
    for rule in rules:
        for obs in observations:
            if not _matches(rule, obs, profile):
                continue
            if rule.direction == "above":
                active = obs.value > rule.threshold
            else:
                active = obs.value < rule.threshold
            out.append(Evaluation(rule, obs, active))
    return out
