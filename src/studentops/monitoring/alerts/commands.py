"""CLI: ``studentops alerts test --channel NAME`` and ``studentops alerts list``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from studentops.config import load_settings

console = Console()
alerts_app = typer.Typer(help="Alert channels, state and history.", no_args_is_help=True)


@alerts_app.command("test")
def test_cmd(
    channel: Annotated[
        str | None,
        typer.Option("--channel", "-c", help="Channel name from alert_channels (default: all)."),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for delivery.")] = 120.0,
) -> None:
    """Send a test message on one channel (or all) and report each delivery."""
    from studentops.monitoring.alerts.delivery import DeliveryFailed, notify
    from studentops.monitoring.alerts.message import AlertMessage
    from studentops.monitoring.alerts.settings import build_channels

    settings = load_settings()
    channels = build_channels(settings, only=channel)
    message = AlertMessage(
        title="Test message: this channel reaches you",
        profile="(all profiles)",
        severity="info",
        state="info",
        amount="nothing is wrong; sent by 'studentops alerts test'",
        report_url=settings.alert_report_url,
    )
    results = notify(
        message, channels, retries=settings.alert_retries, backoff_s=settings.alert_backoff_s
    ).wait(timeout)
    failed = 0
    for result in sorted(results, key=lambda r: r.channel):
        if result.ok:
            console.print(f"[green]sent[/] {result.channel} (attempts: {result.attempts})")
        else:
            failed += 1
            console.print(
                f"[red]FAILED[/] {result.channel} after {result.attempts} attempts: {result.error}"
            )
    missing = len(channels) - len(results)
    if failed or missing:
        raise DeliveryFailed(f"{failed + missing} of {len(channels)} channels did not deliver")


@alerts_app.command("check")
def check_cmd(
    profile: Annotated[str, typer.Option("--profile", "-p", help="Profile to check.")],
    data: Annotated[
        Path | None, typer.Option("--data", help="Check this file instead of the prediction log.")
    ] = None,
    retrain: Annotated[
        bool,
        typer.Option(
            "--retrain/--no-retrain",
            help="Retrain when a rule marked retrain: true fires (new rows: logged predictions "
            "that have outcomes).",
        ),
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for delivery.")] = 120.0,
) -> None:
    """Run a monitoring check, evaluate the alert rules on it and send what fired."""
    from studentops.monitoring.alerts.engine import alert_on_check
    from studentops.monitoring.check import run_check

    settings = load_settings()
    result = run_check(profile, settings=settings, data=data)
    run = alert_on_check(settings, result)
    results = run.wait(timeout)
    if not run.transitions:
        console.print(f"no alert changed state ({len(run.firing)} conditions still hold)")
    for t in run.transitions:
        console.print(f"{t.event}: {t.message.title} ({t.message.amount})")
    failed = [r for r in results if not r.ok]
    for r in failed:
        console.print(f"[red]FAILED[/] {r.channel} after {r.attempts} attempts: {r.error}")
    if retrain:
        from studentops.monitoring.retraining.commands import print_decision
        from studentops.monitoring.retraining.trigger import retrain_on_alerts

        outcome = retrain_on_alerts(settings, run, result.profile)
        if outcome is None:
            console.print("no rule asked for retraining")
        else:
            print_decision(console, outcome.decision)
            if outcome.delivery is not None:
                outcome.delivery.wait(timeout)


@alerts_app.command("list")
def list_cmd(
    profile: Annotated[str | None, typer.Option("--profile", "-p")] = None,
    history: Annotated[bool, typer.Option("--history", help="Show events, not states.")] = False,
    limit: Annotated[int, typer.Option(min=1)] = 50,
) -> None:
    """Alerts with their state (firing, resolved), or their history of events."""
    from studentops.monitoring.alerts.store import AlertStore
    from studentops.output import print_rows

    store = AlertStore(load_settings().prediction_log)
    try:
        if history:
            header = ["at (UTC)", "profile", "rule", "subject", "event", "value", "detail"]
            rows = [
                [
                    f"{row['at']:%Y-%m-%d %H:%M}",
                    row["profile"],
                    row["rule"],
                    row["subject"] or "-",
                    row["event"],
                    "-" if row["value"] is None else f"{row['value']:.4g}",
                    (row["detail"] or "")[:80],
                ]
                for row in store.history(profile, limit=limit)
            ]
        else:
            header = ["rule", "profile", "subject", "state", "severity", "since", "value"]
            rows = [
                [
                    s.rule,
                    s.profile,
                    s.subject or "-",
                    f"[red]{s.state}[/]" if s.state == "firing" else s.state,
                    s.severity,
                    f"{s.since:%Y-%m-%d %H:%M}",
                    "-" if s.value is None else f"{s.value:.4g}",
                ]
                for s in store.states(profile)[-limit:]
            ]
    finally:
        store.close()
    if not rows:
        console.print("no alert events yet" if history else "no alerts yet")
        return
    # Below the table's width: one block per alert, nothing cut (an 80-column terminal).
    print_rows(console, header, rows)


def register(app: typer.Typer) -> None:
    """Add the ``alerts`` group (test, check, list) to the CLI app."""
    app.add_typer(alerts_app, name="alerts")
