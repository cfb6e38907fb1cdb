"""Runs stuck in Running or Pending beyond a limit are marked Crashed and reported.

A run whose machine vanished, or whose process was killed before it could tell the server,
stays "Running" forever in Prefect's database (a long-standing complaint of Prefect users).
``flows serve`` sweeps every ``flow_sweep_interval_s``; ``studentops flows sweep`` sweeps now.
Only flow runs are swept; their task runs follow the flow's final state in the UI.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from studentops.config import Settings
from studentops.flows.alerts import run_details
from studentops.flows.notify import send_alert


@dataclass(frozen=True)
class SweptRun:
    """A run that was stuck: its id, name, flow, the state it was stuck in, and for how long."""

    run_id: str
    run_name: str
    flow_name: str
    stuck_state: str
    stuck_for_s: float


def sweep_stuck_runs(older_than_s: float, *, client: Any = None) -> list[SweptRun]:
    """Mark flow runs Running or Pending for longer than ``older_than_s`` seconds as Crashed.

    Uses the Prefect API this process points at (or ``client``, a sync Prefect client).
    """
    from prefect.client.orchestration import get_client

    if client is None:
        with get_client(sync_client=True) as own:
            return sweep_stuck_runs(older_than_s, client=own)
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    stuck_types = [StateType.RUNNING, StateType.PENDING]
    runs = client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=stuck_types))
        )
    )
    now = dt.datetime.now(dt.UTC)
    swept = []
    for run in runs:
        if run.state is None:
            continue
        age = (now - run.state.timestamp).total_seconds()
        if age <= older_than_s:
            continue
        message = (
            f"swept by studentops: {run.state.name} for {age:.0f}s "
            f"(limit {older_than_s:.0f}s, flow_stuck_after_s)"
        )
        client.set_flow_run_state(run.id, Crashed(message=message), force=True)
        flow_name = client.read_flow(run.flow_id).name
        swept.append(SweptRun(str(run.id), run.name, flow_name, run.state.name, age))
    return swept


def sweep_and_report(settings: Settings, *, client: Any = None) -> list[SweptRun]:
    """Sweep with ``flow_stuck_after_s`` and send one alert per swept run."""
    swept = sweep_stuck_runs(settings.flow_stuck_after_s, client=client)
    for run in swept:
        detail = f"stuck in {run.stuck_state} for {run.stuck_for_s:.0f}s; marked Crashed"
        send_alert(
            settings,
            f"flow '{run.flow_name}' stuck in {run.stuck_state} (run {run.run_name})",
            run_details(run.run_name, run.run_id, "Crashed", detail),
        )
    return swept
