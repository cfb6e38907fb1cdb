"""Schedules from settings: ``flow_schedules`` entries checked and turned into deployments.

In ``studentops.yaml``::

    flow_schedules:
      - name: nightly-risk-list          # optional; default <flow>-<n>
        flow: score
        cron: "0 2 * * *"                # or interval_s: 3600
        timezone: Europe/London          # optional, for cron (default UTC)
        parameters: {profile: student-performance, folder: /exports/today}

Each entry is checked (flow name, one of cron/interval_s, parameters the flow accepts) before
anything is served, so a typo is one line at start-up, not a failed run at 2 a.m.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from studentops.errors import ConfigError


class FlowSchedule(BaseModel):
    """One scheduled flow."""

    model_config = ConfigDict(extra="forbid")

    flow: str
    name: str | None = None
    cron: str | None = None
    interval_s: float | None = Field(None, gt=0)
    timezone: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_timing(self) -> FlowSchedule:
        if (self.cron is None) == (self.interval_s is None):
            raise ValueError("give exactly one of cron or interval_s")
        return self


def parse_schedules(entries: list[dict[str, Any]], flows: dict[str, Any]) -> list[FlowSchedule]:
    """Check ``flow_schedules`` against the known flows and their parameters.

    Raises:
        ConfigError: naming the entry and what is wrong with it.
    """
    out: list[FlowSchedule] = []
    for i, entry in enumerate(entries):
        try:
            schedule = FlowSchedule(**entry)
        except (ValidationError, TypeError) as exc:
            detail = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            raise ConfigError(f"flow_schedules[{i}]: {detail}") from exc
        if schedule.flow not in flows:
            raise ConfigError(
                f"flow_schedules[{i}]: unknown flow '{schedule.flow}' "
                f"(one of {', '.join(sorted(flows))})"
            )
        check_parameters(flows[schedule.flow], schedule.parameters, f"flow_schedules[{i}]")
        if schedule.cron is not None:
            _check_cron(schedule.cron, schedule.timezone, f"flow_schedules[{i}]")
        schedule.name = schedule.name or f"{schedule.flow}-{i + 1}"
        out.append(schedule)
    names = [s.name for s in out]
    if len(set(names)) != len(names):
        raise ConfigError("flow_schedules: two entries have the same name")
    return out


def check_parameters(flow: Any, parameters: dict[str, Any], where: str) -> dict[str, Any]:
    """The flow's own validation of ``parameters`` (names and types), as one ConfigError.

    Raises:
        ConfigError: a parameter the flow does not take, or a value of the wrong type (all listed).
    """
    from prefect.exceptions import ParameterTypeError, SignatureMismatchError

    try:
        return dict(flow.validate_parameters(parameters))
    except (ParameterTypeError, SignatureMismatchError) as exc:
        lines = [line.strip(" -") for line in str(exc).splitlines() if line.strip()]
        raise ConfigError(f"{where}: {'; '.join(lines)}") from exc


def _check_cron(expression: str, timezone: str | None, where: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from prefect.schedules import Cron

    try:
        Cron(expression)
    except ValueError as exc:
        raise ConfigError(f"{where}: '{expression}' is not a cron expression") from exc
    if timezone:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"{where}: unknown timezone '{timezone}'") from exc


def to_deployments(schedules: list[FlowSchedule], flows: dict[str, Any]) -> list[Any]:
    """Prefect deployments (served from this process) for the checked schedules."""
    import datetime as dt

    from prefect.schedules import Cron, Interval
    from prefect.types.entrypoint import EntrypointType

    deployments = []
    for s in schedules:
        timing = (
            Cron(s.cron, timezone=s.timezone or "UTC")
            if s.cron is not None
            else Interval(dt.timedelta(seconds=float(s.interval_s or 0)))
        )
        deployments.append(
            flows[s.flow].to_deployment(
                name=str(s.name),
                schedules=[timing],
                parameters=s.parameters,
                entrypoint_type=EntrypointType.MODULE_PATH,
                tags=["studentops"],
            )
        )
    return deployments
