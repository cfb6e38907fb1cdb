"""CLI commands for monitoring: ``monitor`` (drift and performance) and ``outcomes``.

Thin: each calls one plain function (:func:`studentops.monitoring.check.run_check`,
:func:`studentops.monitoring.outcomes.record_outcomes`) and prints what it found.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from studentops.errors import StudentOpsError

if TYPE_CHECKING:
    from studentops.monitoring.results import CheckResult

console = Console()

ProfileOpt = Annotated[
    str, typer.Option("--profile", "-p", help="Profile whose champion to watch.")
]


class DriftFound(StudentOpsError):
    """``--fail-on-drift`` and the window drifted: exit 1, a finding, not a mistake."""

    exit_code = 1


def _when(text: str | None, option: str) -> dt.datetime | None:
    if text is None:
        return None
    now = dt.datetime.now(dt.UTC)
    stripped = text.strip().lower()
    units = {"d": "days", "h": "hours", "w": "weeks"}
    if stripped[-1:] in units and stripped[:-1].replace(".", "", 1).isdigit():
        return now - dt.timedelta(**{units[stripped[-1]]: float(stripped[:-1])})
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise StudentOpsError(
            f"{option} {text!r}: use an ISO date/time (2026-09-01, 2026-09-01T08:00) or 7d, 12h"
        ) from exc
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def print_check(result: CheckResult) -> None:
    """The verdict, the drifted features and the report's path."""
    v = result.verdict
    style = {"drift": "bold red", "ok": "bold green"}.get(v.status, "bold yellow")
    console.print(
        f"[{style}]{v.status.replace('_', ' ')}[/]: {result.profile} v{result.model_version}, "
        f"{result.n_rows:,} rows ({result.source})"
    )
    console.print(v.message.splitlines()[0] if v.message else "")
    drifted = [*result.drifted, *[p for p in result.prediction if p.any_drift]]
    if drifted:
        table = Table("feature", "statistic", "value", "threshold", "what changed")
        for f in drifted:
            table.add_row(
                f.feature,
                f.statistic,
                f"{f.value:.3f}",
                f"{f.threshold:.3g}",
                f.message.split(": ", 1)[-1],
            )
        console.print(table)
    if result.target is not None:
        console.print(f"target: {result.target.message}")
    overall = [m for m in result.metrics if m.group_column is None]
    if overall:
        table = Table("version", "metric", "value", "n", title="performance on arrived outcomes")
        for m in overall:
            table.add_row(f"v{m.model_version}", m.metric, f"{m.value:.4f}", f"{m.n:,}")
        console.print(table)
    if result.report_html:
        console.print(f"report: {result.report_html}")


def monitor_cmd(
    profile: ProfileOpt,
    since: Annotated[
        str | None, typer.Option(help="Window start: ISO time or 7d/12h back (default 30d).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Window end: ISO time (default now).")] = None,
    data: Annotated[
        Path | None, typer.Option(help="Check this CSV/Parquet file instead of the log.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    fail_on_drift: Annotated[
        bool, typer.Option("--fail-on-drift", help="Exit 1 when the window drifted.")
    ] = False,
) -> None:
    """Compare recent predictions (or a file) with the champion's training data."""
    import json

    from studentops.config import load_settings
    from studentops.monitoring.check import run_check
    from studentops.tracking import quiet_library_logs

    quiet_library_logs()
    if data is not None and not data.exists():
        raise StudentOpsError(f"--data {data}: no such file")
    result = run_check(
        profile,
        settings=load_settings(),
        since=_when(since, "--since"),
        until=_when(until, "--until"),
        data=data,
    )
    if json_out:
        typer.echo(json.dumps(result.to_dict(), indent=1))
    else:
        print_check(result)
    if fail_on_drift and result.verdict.status == "drift":
        raise DriftFound(f"{result.profile}: drift in {', '.join(result.verdict.drifted_features)}")


def outcomes_cmd(
    profile: ProfileOpt,
    data: Annotated[Path, typer.Option(help="CSV/Parquet with student ids and outcomes.")],
    observed: Annotated[
        str | None, typer.Option(help="When the outcomes became known (ISO; default now).")
    ] = None,
) -> None:
    """Record true outcomes (end of term); ids are hashed on the way in, never stored."""
    from studentops.config import load_settings
    from studentops.monitoring.outcomes import record_outcomes

    if not data.exists():
        raise StudentOpsError(f"--data {data}: no such file")
    summary = record_outcomes(
        profile, data, settings=load_settings(), observed_at=_when(observed, "--observed")
    )
    skipped = ", ".join(f"{n} {why}" for why, n in summary.skipped.items())
    console.print(
        f"stored {summary.stored:,} outcomes for {summary.profile}"
        + (f"; not stored: {skipped}" if skipped else "")
        + (f"; groups: {', '.join(summary.groups)}" if summary.groups else "")
    )


def backfill_reference_cmd(
    profile: ProfileOpt,
    data: Annotated[Path, typer.Option(help="The version's training file (CSV/Parquet).")],
    version: Annotated[
        str | None, typer.Option(help="Registered version (default: the champion).")
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Rebuild a reference the version already has.")
    ] = False,
) -> None:
    """Build the reference profile of a model registered before monitoring existed."""
    from studentops.config import load_settings
    from studentops.monitoring.backfill import backfill_reference
    from studentops.tracking import quiet_library_logs

    quiet_library_logs()
    if not data.exists():
        raise StudentOpsError(f"--data {data}: no such file")
    done = backfill_reference(
        profile, data, settings=load_settings(), version=version, replace=replace
    )
    console.print(
        f"logged a reference profile to {done.model_name} v{done.version} "
        f"({done.n_rows:,} rows, {done.n_features} features from {data.name}); "
        f"now: studentops monitor --profile {profile}"
    )


def register(app: typer.Typer) -> None:
    """Add ``monitor``, ``outcomes`` and ``backfill-reference`` to the CLI ``app``."""
    app.command("monitor")(monitor_cmd)
    app.command("outcomes")(outcomes_cmd)
    app.command("backfill-reference")(backfill_reference_cmd)
