"""The demo's monitoring step: score a drifted cohort, check it, show what drifted.

Called by :func:`studentops.demo.run_demo` with one line. Uses the generator's ``--drift``
scenarios (:mod:`studentops.datasets.drift_injection`) so the drift is known in advance.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from studentops.config import Settings
    from studentops.datasets.profile import Profile

DEMO_DRIFTS = {
    "student-performance": ["Absences:+60%", "Tutoring:mix=1:0.7", "StudyTimeWeekly:-30%"],
    "uci-dropout-binary": ["Age at enrollment:+40%", "Gender:mix=1:0.8"],
    "uci-dropout": ["Age at enrollment:+40%", "Gender:mix=1:0.8"],
}


def demo_drift_check(
    settings: Settings,
    profile: Profile,
    folder: Path,
    rows: int = 2_000,
    seed: int = 42,
    step: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Score a cohort drifted by ``DEMO_DRIFTS``, run the check on it, print the verdict.

    ``step`` prints the step's heading (the demo numbers its steps in one place).

    Returns the drifted features, the verdict and the report's path (the demo test reads them).
    """
    from rich.console import Console

    from studentops.datasets.synthetic import generate_cohort, write_cohort
    from studentops.monitoring.check import run_check
    from studentops.monitoring.commands import print_check
    from studentops.serving.batch import score_file

    console = Console()
    drifts = DEMO_DRIFTS.get(profile.name, [])
    heading = step or (lambda text: console.rule(f"[bold]{text}"))
    heading(f"monitoring: a drifted cohort ({', '.join(drifts) or 'none'})")
    cohort = generate_cohort(profile, rows=rows, seed=seed + 2, drifts=drifts)
    cohort = cohort.drop(
        columns=[c for c in (profile.target.column, profile.target_source) if c and c in cohort]
    )
    path = write_cohort(cohort, folder / "drifted-term.csv")
    since = dt.datetime.now(dt.UTC)
    score_file(profile.name, path, folder / "drifted-term-scored.csv", settings=settings)
    result = run_check(profile.name, settings=settings, since=since)
    print_check(result)
    return {
        "drifts": drifts,
        "status": result.verdict.status,
        "drifted_features": result.verdict.drifted_features,
        "report": result.report_html,
    }
