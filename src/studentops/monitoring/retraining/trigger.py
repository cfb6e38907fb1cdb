"""The step flows call after alerts: retrain when a rule marked ``retrain: true`` fired."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from studentops.config import Settings
    from studentops.monitoring.alerts.engine import AlertRun
    from studentops.monitoring.retraining.retrain import RetrainOutcome


def trigger_text(run: AlertRun) -> str:
    """The rules that asked for retraining, with their figures (recorded with the decision)."""
    return "; ".join(
        f"rule {e.rule.name}{f' ({e.subject})' if e.subject else ''}: {e.amount}"
        for e in run.retrain_wanted
    )


def retrain_on_alerts(
    settings: Settings,
    run: AlertRun,
    profile: str,
    new_data: str | Path | pd.DataFrame | None = None,
    **options: Any,
) -> RetrainOutcome | None:
    """Retrain ``profile`` if ``run`` fired (or repeated) a rule marked ``retrain: true``.

    Args:
        new_data: the newly labelled rows (default: the monitoring store's predictions that
            have outcomes, :func:`sources.new_labelled_rows`).
        options: passed to :func:`retrain.retrain` (budget, channels...).

    Returns:
        The retraining's outcome, or None when no such rule fired.
    """
    from studentops.monitoring.retraining.retrain import retrain
    from studentops.monitoring.retraining.sources import new_labelled_rows

    if not run.retrain_wanted:
        return None
    rows = new_data if new_data is not None else new_labelled_rows(settings, profile)
    reports = [e.observation.report_url for e in run.retrain_wanted if e.observation.report_url]
    if reports:  # the check's report, linked from the decision's announcement
        options.setdefault("report_url", reports[0])
    return retrain(settings, profile, rows, trigger=trigger_text(run), **options)
