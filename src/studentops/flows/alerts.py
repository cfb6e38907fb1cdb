"""State hooks: a run that fails, crashes or is cancelled is reported on the alert channels.

Prefect calls these hooks in the process that ran the flow; for a run whose process died
(killed, out of memory) the serving runner calls ``on_crashed`` itself. Runs that never reach a
final state (a machine that vanished) are found by :mod:`studentops.flows.sweep`.
"""

from __future__ import annotations

import logging
from typing import Any

from studentops.config import load_settings
from studentops.flows.notify import Delivery, send_alert

log = logging.getLogger(__name__)


def run_message(flow_name: str, run_name: str, run_id: str, state_name: str, detail: str) -> str:
    """The body of a run alert: which flow, which run, its state and what Prefect said."""
    return (
        f"flow: {flow_name}\nrun: {run_name} ({run_id})\nstate: {state_name}\n"
        f"detail: {detail or '-'}\n"
        f"See it in the Prefect UI: flow run {run_id} (studentops flows ui opens it)."
    )


def report_run_state(flow: Any, flow_run: Any, state: Any) -> Delivery:
    """Hook for ``on_failure``, ``on_crashed`` and ``on_cancellation``: send one alert."""
    subject = f"studentops flow '{flow.name}' {state.name.lower()}: run {flow_run.name}"
    body = run_message(flow.name, flow_run.name, str(flow_run.id), state.name, state.message or "")
    return send_alert(load_settings(), subject, body)


# For on_failure, on_crashed and on_cancellation of every flow.
ALERT_HOOKS: list[Any] = [report_run_state]
