"""The alerts-and-retraining part of `make demo` (issue 13), run after training and scoring.

A drifted cohort whose outcomes are now known is checked against the champion's reference
(the monitoring check), the alert rules fire on the result, the alert goes to the configured
channels (with none configured: ``<home>/alerts/alerts.jsonl`` and the console), a rule marked
``retrain: true`` starts a retraining, and the gated decision is printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

if TYPE_CHECKING:
    from studentops.config import Settings
    from studentops.datasets.profile import Profile

console = Console()

# Shifts a data team would notice (a new intake with more absences and less study time).
DEMO_DRIFTS = (
    "Absences:+60%",
    "StudyTimeWeekly:-40%",
    "Age:+2",
    "Tutoring:mix=1:0.8",
    "Extracurricular:mix=1:0.9",
)


def run_alerts_demo(
    settings: Settings,
    profile: Profile,
    folder: Path,
    *,
    rows: int = 5000,
    budget_s: float = 30.0,
    seed: int = 42,
    first_step: int = 8,
) -> dict[str, Any]:
    """Drifted cohort -> check -> alert -> retraining -> decision. Returns what it printed."""
    from studentops.datasets.drift import parse_drift
    from studentops.datasets.synthetic import generate_cohort, write_cohort
    from studentops.monitoring.alerts.engine import alert_on_check
    from studentops.monitoring.alerts.settings import build_channels, local_path
    from studentops.monitoring.check import run_check
    from studentops.monitoring.retraining.commands import print_decision
    from studentops.monitoring.retraining.trigger import retrain_on_alerts

    drifts = [d for d in DEMO_DRIFTS if _fits(d, profile, parse_drift)]
    console.rule(f"[bold]{first_step}. a drifted cohort arrives with its outcomes: alert rules")
    cohort = generate_cohort(profile, rows=max(400, rows // 2), seed=seed + 2, drifts=drifts)
    labelled = write_cohort(cohort, folder / "drifted-labelled.csv")
    check = run_check(profile.name, settings=settings, data=labelled)
    console.print(
        f"check: {check.verdict.status}, {len(check.verdict.drifted_features)} of "
        f"{check.verdict.n_features} features drifted ({', '.join(check.verdict.drifted_features)})"
    )
    channels = build_channels(settings)
    run = alert_on_check(settings, check, channels=channels)
    run.wait(30)
    fired = [t.message.title for t in run.transitions]
    where = ", ".join(c.name for c in channels)
    console.print(f"{len(fired)} alert(s) sent on: {where} (local file: {local_path(settings)})")

    console.rule(f"[bold]{first_step + 1}. retrain: challenger vs champion on recent outcomes")
    outcome = retrain_on_alerts(
        settings, run, profile.name, labelled, time_budget_s=min(budget_s, 20.0)
    )
    if outcome is None:
        console.print("no rule asked for retraining: the champion stays")
        return {"alerts": fired, "decision": None}
    if outcome.delivery is not None:
        outcome.delivery.wait(30)
    print_decision(console, outcome.decision)
    return {"alerts": fired, "decision": outcome.decision.as_dict()}


def _fits(spec: str, profile: Profile, parse: Any) -> bool:
    """Keep the demo's drifts that the profile has columns for (any profile can be demoed)."""
    try:
        parse(spec, profile)
    except Exception:
        return False
    return True
