"""Run alerts go out on the alert channels of ``docs/alerts.md`` (SMTP, SES, webhooks, file).

The hook the flows call when a run fails, crashes, is cancelled or is swept as stuck. The
message carries flow and run names, states and Prefect's message, never student data. Sending
never raises: channels retry with backoff on their own threads and a failing one is counted and
logged by the alerts part; here we only wait a bounded time so a run's process does not exit
before its alert left.
"""

from __future__ import annotations

import logging

from studentops.config import Settings

log = logging.getLogger(__name__)

WAIT_FOR_CHANNELS_S = 60.0
NO_PROFILE = "flows"


def send_alert(
    settings: Settings,
    title: str,
    details: list[str],
    *,
    profile: str | None = None,
    severity: str = "critical",
) -> dict[str, bool]:
    """Send a run alert to every configured channel; returns ``{channel: delivered}``.

    With no ``alert_channels`` configured it goes to the local file under home and the console.
    A misconfigured channel is logged, not raised (the run's own failure is what matters here).
    """
    from studentops.errors import ConfigError
    from studentops.monitoring.alerts.engine import announce
    from studentops.monitoring.alerts.message import AlertMessage

    message = AlertMessage(
        title=title,
        profile=profile or NO_PROFILE,
        severity="warning" if severity == "warning" else "critical",
        state="info",
        details=tuple(details),
    )
    try:
        delivery = announce(settings, message)
    except ConfigError as exc:
        log.error("run alert not sent: %s", exc)
        return {}
    results = delivery.wait(WAIT_FOR_CHANNELS_S)
    return {r.channel: r.ok for r in results}
