"""The alerts-and-retraining part of `make demo` (issue 13), run after training and scoring.

The alert rules run on the monitoring step's check of the drifted cohort, the alert goes to the
configured channels (with none configured: ``<home>/alerts/alerts.jsonl`` and the console);
the cohort's outcomes arrive and are recorded; a rule marked ``retrain: true`` starts a
retraining on the logged predictions that now have outcomes, and the gated decision is printed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

if TYPE_CHECKING:
    from studentops.config import Settings
    from studentops.datasets.profile import Profile
    from studentops.monitoring.alerts.channels import Channel
    from studentops.monitoring.alerts.engine import AlertRun
    from studentops.monitoring.alerts.store import AlertState

console = Console()


def run_alerts_demo(
    settings: Settings,
    profile: Profile,
    folder: Path,
    *,
    rows: int = 2_000,
    budget_s: float = 30.0,
    seed: int = 42,
    step: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Check -> alert -> outcomes arrive -> retraining -> decision. Returns what it printed.

    Runs after the monitoring step (:func:`monitoring.demo_step.demo_drift_check`), whose check
    of the drifted cohort it alerts on; ``rows`` and ``seed`` must be the ones that step used,
    so the outcomes recorded here are those of the students it scored. Without that step's
    check it checks the drifted cohort itself.
    """
    from studentops.datasets.synthetic import generate_cohort, write_cohort
    from studentops.monitoring.alerts.engine import alert_on_check, grouped_messages
    from studentops.monitoring.alerts.observations import report_link
    from studentops.monitoring.alerts.settings import build_channels, local_path
    from studentops.monitoring.check import run_check
    from studentops.monitoring.demo_step import DEMO_DRIFTS
    from studentops.monitoring.outcomes import record_outcomes
    from studentops.monitoring.retraining.commands import print_decision
    from studentops.monitoring.retraining.retrain import retrain
    from studentops.monitoring.retraining.sources import new_labelled_rows
    from studentops.monitoring.store import MonitorStore

    heading = step or (lambda text: console.rule(f"[bold]{text}"))

    drifts = DEMO_DRIFTS.get(profile.name, [])
    # The same students the monitoring step scored, now with their outcomes.
    cohort = generate_cohort(profile, rows=rows, seed=seed + 2, drifts=drifts)
    heading("alert rules on the check of the drifted cohort")
    with MonitorStore(settings.prediction_log) as store:
        check = store.latest_check(profile.name)
    if check is None:  # the monitoring step did not run: check the cohort as a file
        check = run_check(
            profile.name, settings=settings, data=write_cohort(cohort, folder / "drifted.csv")
        )
    channels = without_console_copy(build_channels(settings))
    run = alert_on_check(settings, check, channels=channels)
    run.wait(30)
    fired = [t.message.title for t in run.transitions]
    where = ", ".join(c.name for c in channels)
    sent = grouped_messages(run.transitions, profile.name)
    console.print(f"{len(sent)} alert(s) sent on: {where} (local file: {local_path(settings)})")
    for _, message in sent:
        console.print(f"  [yellow]{message.state}[/] {message.title}")
        if message.amount:
            console.print(f"    by how much: {message.amount}")
        console.print(f"    report: {message.report_url or 'no report linked'}")
    for line in still_firing(settings, profile.name, run):
        console.print(line)
    report = report_link(check, settings.alert_report_url)

    heading("their outcomes arrive: retrain through the gates")
    keep = [c for c in (profile.id, profile.target.column, profile.target_source,
                        *profile.sensitive) if c and c in cohort.columns]  # fmt: skip
    outcomes_file = write_cohort(cohort[keep], folder / "drifted-outcomes.csv")
    summary = record_outcomes(profile.name, outcomes_file, settings)
    console.print(f"recorded {summary.stored:,} outcomes (ids pseudonymised) from {outcomes_file}")
    # In production only a rule marked ``retrain: true`` starts this (retrain_on_alerts); the
    # demo retrains whichever rule fired, to show the gates at work.
    trigger = demo_trigger(run)
    outcome = retrain(
        settings,
        profile.name,
        new_labelled_rows(settings, profile.name),
        trigger=trigger,
        time_budget_s=min(budget_s, 20.0),
        channels=channels,
        report_url=report,
    )
    if outcome.delivery is not None:
        outcome.delivery.wait(30)
    print_decision(console, outcome.decision)
    console.print(f"  report: {report or 'no report linked'}")
    return {
        "alerts": fired,
        "firing": [e.title for e in run.firing],
        "trigger": trigger,
        "report": report,
        "decision": outcome.decision.as_dict(),
    }


def without_console_copy(channels: list[Channel]) -> list[Channel]:
    """The channels, the local one writing its file only: the demo prints each alert itself."""
    from studentops.monitoring.alerts.channels.local import FileChannel

    for channel in channels:
        if isinstance(channel, FileChannel):
            channel.console = None
    return channels


def still_firing(settings: Settings, profile: str, run: AlertRun) -> list[str]:
    """Lines for the rules whose condition holds but that sent nothing now (within their
    cooldown: a second demo in the same home), so the demo does not just say "0 sent"."""
    from studentops.monitoring.alerts.store import AlertStore

    sent = {(t.evaluation.rule.name, t.evaluation.subject) for t in run.transitions}
    quiet = [e for e in run.firing if (e.rule.name, e.subject) not in sent]
    if not quiet:
        return []
    store = AlertStore(settings.prediction_log)
    try:
        states = [store.get(profile, e.rule.name, e.subject) for e in quiet]
    finally:
        store.close()
    lines = [f"{len(quiet)} alert(s) still firing, within their rule's cooldown: not sent again"]
    for ev, state in zip(quiet, states, strict=True):
        lines.append(f"  [yellow]firing[/] {ev.title}")
        lines.append(f"    by how much: {ev.amount}")
        lines.append(f"    {_cooldown_text(state, ev.rule.cooldown_hours)}")
    return lines


def _cooldown_text(state: AlertState | None, hours: float) -> str:
    if state is None or state.last_sent is None:
        return f"cooldown {hours:g}h"
    since = _utc(state.since).strftime("%Y-%m-%d %H:%M UTC")
    again = _utc(state.last_sent) + timedelta(hours=hours)
    return (
        f"firing since {since}; last sent {_utc(state.last_sent):%Y-%m-%d %H:%M} UTC, "
        f"sent again if still firing after {again:%Y-%m-%d %H:%M} UTC (cooldown {hours:g}h)"
    )


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def demo_trigger(run: AlertRun) -> str:
    """Why the demo retrains: the rules asking for it, else every rule firing (sent now or
    within its cooldown), with their figures; never an empty text."""
    from studentops.monitoring.retraining.trigger import trigger_text

    if run.retrain_wanted:
        return trigger_text(run)
    firing = "; ".join(
        f"rule {e.rule.name}{f' ({e.subject})' if e.subject else ''}: {e.amount}"
        for e in run.firing
    )
    return f"demo: {firing}" if firing else "demo: no rule firing (retrained to show the gates)"
