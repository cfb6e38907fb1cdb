"""State hooks: a run that fails, crashes or is cancelled is reported on the alert channels.

Prefect calls these hooks in the process that ran the flow; for a run whose process died
(killed, out of memory) the serving runner calls ``on_crashed`` itself. Runs that never reach a
final state (a machine that vanished) are found by :mod:`studentops.flows.sweep`.
"""

from __future__ import annotations

from typing import Any

from studentops.config import load_settings
from studentops.flows.notify import send_alert


def run_details(run_name: str, run_id: str, state_name: str, detail: str) -> list[str]:
    """The lines of a run alert: which run, its state, what Prefect said, where to look."""
    return [
        f"run: {run_name} ({run_id})",
        f"state: {state_name}",
        f"detail: {(detail or '-').strip().splitlines()[0][:500]}",
        f"Prefect UI: flow run {run_id} (studentops flows server, then open the UI)",
    ]


def report_run_state(flow: Any, flow_run: Any, state: Any) -> dict[str, bool]:
    """Hook for ``on_failure``, ``on_crashed`` and ``on_cancellation``: send one alert."""
    params = flow_run.parameters or {}
    profile = params.get("profile") if isinstance(params.get("profile"), str) else None
    return send_alert(
        load_settings(),
        f"flow '{flow.name}' {state.name.lower()} (run {flow_run.name})",
        run_details(flow_run.name, str(flow_run.id), state.name, state.message or ""),
        profile=profile,
        severity="warning" if state.is_cancelled() else "critical",
    )


# For on_failure, on_crashed and on_cancellation of every flow.
ALERT_HOOKS: list[Any] = [report_run_state]
