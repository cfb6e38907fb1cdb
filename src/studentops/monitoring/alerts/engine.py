"""From observations to sent alerts: evaluate the rules, move each alert's state, notify.

State machine of one alert (profile, rule, subject):

* condition holds, alert not firing -> **fired**: stored as firing, sent;
* condition holds, alert firing -> **repeated** and sent again only once its rule's cooldown
  has passed since the last send, otherwise nothing is sent (the same alert is not sent every
  hour);
* condition no longer holds, alert firing -> **resolved**: stored and sent (so people know);
* no observation for the rule (e.g. no outcomes yet) -> unchanged.

Sending goes through :func:`delivery.notify`, in background threads: this function returns
before any channel has answered, and each channel's outcome is written to the history.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from studentops.monitoring.alerts.message import AlertMessage
from studentops.monitoring.alerts.rules import Evaluation, Observation, evaluate_rules, load_rules
from studentops.monitoring.alerts.store import AlertState, AlertStore

if TYPE_CHECKING:
    from studentops.config import Settings
    from studentops.monitoring.alerts.channels import Channel
    from studentops.monitoring.alerts.delivery import Delivery, DeliveryResult
    from studentops.monitoring.results import CheckResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Transition:
    """A change worth telling people about."""

    event: str  # fired, repeated, resolved
    evaluation: Evaluation
    message: AlertMessage


@dataclass
class AlertRun:
    """What one evaluation did: transitions, alerts still firing, and deliveries under way."""

    transitions: list[Transition]
    firing: list[Evaluation]
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def retrain_wanted(self) -> list[Evaluation]:
        """Firing evaluations (new or repeated) of rules marked ``retrain: true``."""
        return [
            t.evaluation
            for t in self.transitions
            if t.event in ("fired", "repeated") and t.evaluation.rule.retrain
        ]

    def wait(self, timeout_s: float | None = None) -> list[DeliveryResult]:
        """Wait for the deliveries (a CLI or a test; monitoring itself does not wait)."""
        results = []
        for delivery in self.deliveries:
            results.extend(delivery.wait(timeout_s))
        return results


def message_for(
    evaluation: Evaluation, profile: str, event: str, since: datetime, report_url: str | None
) -> AlertMessage:
    """The message of one transition: what, since when, by how much, the report."""
    prefix = {"fired": "", "repeated": "Still firing: ", "resolved": "Resolved: "}[event]
    return AlertMessage(
        title=prefix + evaluation.title,
        profile=profile,
        severity=evaluation.rule.severity,
        state="resolved" if event == "resolved" else "firing",
        since=since,
        amount=evaluation.amount,
        report_url=evaluation.observation.report_url or report_url,
        rule=evaluation.rule.name,
    )


def apply_evaluations(
    store: AlertStore,
    profile: str,
    evaluations: list[Evaluation],
    *,
    now: datetime,
    report_url: str | None = None,
) -> list[Transition]:
    """Move alert states in ``store`` for ``evaluations``; return what should be sent."""
    out = []
    for ev in evaluations:
        rule, obs = ev.rule, ev.observation
        current = store.get(profile, rule.name, ev.subject)
        firing = current is not None and current.state == "firing"
        if ev.active and not firing:
            since = obs.since or now
            store.put(
                AlertState(
                    profile=profile,
                    rule=rule.name,
                    subject=ev.subject,
                    state="firing",
                    severity=rule.severity,
                    since=since,
                    last_seen=now,
                    last_sent=now,
                    resolved_at=None,
                    value=obs.value,
                    threshold=rule.threshold,
                    title=ev.title,
                )
            )
            event = "fired"
        elif ev.active and current is not None:
            due = current.last_sent is None or now - current.last_sent >= timedelta(
                hours=rule.cooldown_hours
            )
            store.put(
                replace(
                    current,
                    last_seen=now,
                    value=obs.value,
                    last_sent=now if due else current.last_sent,
                )
            )
            if not due:
                continue
            event, since = "repeated", current.since
        elif not ev.active and firing and current is not None:
            store.put(replace(current, state="resolved", resolved_at=now, value=obs.value))
            event, since = "resolved", now
        else:
            continue
        store.record(
            profile,
            rule.name,
            ev.subject,
            event,
            severity=rule.severity,
            value=obs.value,
            detail=ev.amount,
            at=now,
        )
        out.append(Transition(event, ev, message_for(ev, profile, event, since, report_url)))
    return out


def raise_alerts(
    settings: Settings,
    profile: str,
    observations: list[Observation],
    *,
    now: datetime | None = None,
    channels: list[Channel] | None = None,
    store: AlertStore | None = None,
) -> AlertRun:
    """Evaluate the configured rules on ``observations`` and notify every channel.

    Returns at once; deliveries continue in the background (``AlertRun.wait``). Each channel's
    outcome (delivered, failed after retries) is recorded in the alert history.

    Raises:
        ConfigError: the rules or channels in settings are invalid.
    """
    from studentops.monitoring.alerts.delivery import notify
    from studentops.monitoring.alerts.settings import build_channels

    now = now or datetime.now(UTC)
    rules = load_rules(settings.alert_rules)
    chosen = channels if channels is not None else build_channels(settings)
    own_store = store is None
    store = store or AlertStore(settings.prediction_log)
    try:
        evaluations = evaluate_rules(rules, observations, profile)
        transitions = apply_evaluations(
            store, profile, evaluations, now=now, report_url=settings.alert_report_url
        )
    finally:
        if own_store:
            store.close()
    run = AlertRun(transitions, [e for e in evaluations if e.active])
    for group, message in grouped_messages(transitions, profile):
        for t in group:
            log.info("alert %s %s: %s (%s)", t.event, t.evaluation.rule.name,
                     t.message.title, t.message.amount)  # fmt: skip
        run.deliveries.append(
            notify(
                message,
                chosen,
                retries=settings.alert_retries,
                backoff_s=settings.alert_backoff_s,
                on_result=_recorder(settings, profile, group),
            )
        )
    return run


def grouped_messages(
    transitions: list[Transition], profile: str
) -> list[tuple[list[Transition], AlertMessage]]:
    """One message per (rule, event): a rule that fires on six features sends one message
    listing them, worst first, not six."""
    groups: dict[tuple[str, str], list[Transition]] = {}
    for t in transitions:
        groups.setdefault((t.evaluation.rule.name, t.event), []).append(t)
    out = []
    for group in groups.values():
        if len(group) == 1:
            out.append((group, group[0].message))
            continue
        rule = group[0].evaluation.rule
        worst_first = sorted(
            group,
            key=lambda t: t.evaluation.observation.value,
            reverse=rule.direction == "above",
        )
        names = [t.evaluation.subject for t in worst_first]
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        first = worst_first[0].message
        out.append(
            (
                group,
                replace(
                    first,
                    title=f"{first.title.rsplit(': ', 1)[0]}: {len(names)} of them ({shown})",
                    since=min(t.message.since for t in group),
                    amount=f"worst {names[0]}: {first.amount}",
                    details=tuple(
                        f"{t.evaluation.subject}: {t.evaluation.amount}" for t in worst_first
                    ),
                ),
            )
        )
    return out


def _recorder(
    settings: Settings, profile: str, group: list[Transition]
) -> Callable[[DeliveryResult], None]:
    """Write a channel's outcome to the history (its own connection: it runs in a thread)."""

    def record(result: DeliveryResult) -> None:
        store = AlertStore(settings.prediction_log)
        try:
            for t in group:
                store.record(
                    profile,
                    t.evaluation.rule.name,
                    t.evaluation.subject,
                    "delivered" if result.ok else "delivery_failed",
                    detail={
                        "channel": result.channel,
                        "attempts": result.attempts,
                        "error": result.error,
                    },
                )
        finally:
            store.close()

    return record


def announce(
    settings: Settings,
    message: AlertMessage,
    channels: list[Channel] | None = None,
) -> Delivery:
    """Send a message that no rule raised (a retraining decision, a test) to every channel."""
    from studentops.monitoring.alerts.delivery import notify
    from studentops.monitoring.alerts.settings import build_channels

    return notify(
        message,
        channels if channels is not None else build_channels(settings),
        retries=settings.alert_retries,
        backoff_s=settings.alert_backoff_s,
    )


def alert_on_check(
    settings: Settings,
    result: CheckResult,
    *,
    now: datetime | None = None,
    channels: list[Channel] | None = None,
    health: bool = True,
) -> AlertRun:
    """The step monitoring calls after each check: observations from the check (and the
    services' health), rules, state, notifications. Returns before any channel answers.

    The champion's registered test metrics are the reference of ``performance_drop``.
    """
    from studentops.monitoring.alerts.observations import (
        health_observations,
        observations_from_check,
        report_link,
    )

    reference = _reference_metrics(settings, result)
    observations = observations_from_check(
        result, reference, report_link(result, settings.alert_report_url)
    )
    if health:
        observations += health_observations(settings, result.profile, now)
    return raise_alerts(settings, result.profile, observations, now=now, channels=channels)


def _reference_metrics(settings: Settings, result: CheckResult) -> dict[str, float]:
    from studentops.registry.models import get_version
    from studentops.tracking import client_for

    if not result.model_name or not result.model_version:
        return {}
    try:
        version = get_version(client_for(settings), result.model_name, result.model_version)
    except Exception as exc:  # no registry at hand: drops are simply not observed
        log.warning("no reference metrics for %s: %s", result.model_name, exc)
        return {}
    return dict(version.test_metrics)
