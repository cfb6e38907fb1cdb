"""The alerts-and-retraining part of `make demo` (issue 13), run after training and scoring.

The alert rules run on the monitoring step's check of the drifted cohort, the alert goes to the
configured channels (with none configured: ``<home>/alerts/alerts.jsonl`` and the console);
the cohort's outcomes arrive and are recorded; a rule marked ``retrain: true`` starts a
retraining on the logged predictions that now have outcomes, and the gated decision is printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

if TYPE_CHECKING:
    from studentops.config import Settings
    from studentops.datasets.profile import Profile

console = Console()


def run_alerts_demo(
    settings: Settings,
    profile: Profile,
    folder: Path,
    *,
    rows: int = 2_000,
    budget_s: float = 30.0,
    seed: int = 42,
    first_step: int = 8,
) -> dict[str, Any]:
    """Check -> alert -> outcomes arrive -> retraining -> decision. Returns what it printed.

    Runs after the monitoring step (:func:`monitoring.demo_step.demo_drift_check`), whose check
    of the drifted cohort it alerts on; ``rows`` and ``seed`` must be the ones that step used,
    so the outcomes recorded here are those of the students it scored. Without that step's
    check it checks the drifted cohort itself.
    """
    from studentops.datasets.synthetic import generate_cohort, write_cohort
    from studentops.monitoring.alerts.engine import alert_on_check
    from studentops.monitoring.alerts.settings import build_channels, local_path
    from studentops.monitoring.check import run_check
    from studentops.monitoring.demo_step import DEMO_DRIFTS
    from studentops.monitoring.outcomes import record_outcomes
    from studentops.monitoring.retraining.commands import print_decision
    from studentops.monitoring.retraining.retrain import retrain
    from studentops.monitoring.retraining.sources import new_labelled_rows
    from studentops.monitoring.retraining.trigger import trigger_text
    from studentops.monitoring.store import MonitorStore

    drifts = DEMO_DRIFTS.get(profile.name, [])
    # The same students the monitoring step scored, now with their outcomes.
    cohort = generate_cohort(profile, rows=rows, seed=seed + 2, drifts=drifts)
    console.rule(f"[bold]{first_step}. alert rules on the check of the drifted cohort")
    with MonitorStore(settings.prediction_log) as store:
        check = store.latest_check(profile.name)
    if check is None:  # the monitoring step did not run: check the cohort as a file
        check = run_check(
            profile.name, settings=settings, data=write_cohort(cohort, folder / "drifted.csv")
        )
    channels = build_channels(settings)
    run = alert_on_check(settings, check, channels=channels)
    run.wait(30)
    fired = [t.message.title for t in run.transitions]
    where = ", ".join(c.name for c in channels)
    console.print(
        f"{len(run.transitions)} alert(s) sent on: {where} (local file: {local_path(settings)})"
    )

    console.rule(f"[bold]{first_step + 1}. their outcomes arrive: retrain through the gates")
    keep = [c for c in (profile.id, profile.target.column, profile.target_source,
                        *profile.sensitive) if c and c in cohort.columns]  # fmt: skip
    outcomes_file = write_cohort(cohort[keep], folder / "drifted-outcomes.csv")
    summary = record_outcomes(profile.name, outcomes_file, settings)
    console.print(f"recorded {summary.stored:,} outcomes (ids pseudonymised) from {outcomes_file}")
    # In production only a rule marked ``retrain: true`` starts this (retrain_on_alerts); the
    # demo retrains whichever rule fired, to show the gates at work.
    trigger = trigger_text(run) if run.retrain_wanted else "demo: " + "; ".join(fired)
    outcome = retrain(
        settings,
        profile.name,
        new_labelled_rows(settings, profile.name),
        trigger=trigger or "demo",
        time_budget_s=min(budget_s, 20.0),
    )
    if outcome.delivery is not None:
        outcome.delivery.wait(30)
    print_decision(console, outcome.decision)
    return {"alerts": fired, "decision": outcome.decision.as_dict()}
