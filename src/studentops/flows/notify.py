"""Where a run alert goes: a JSON-lines file under home, the log, and e-mail when configured.

The hook the flows call when a run fails, crashes, is cancelled or is swept as stuck. It carries
flow and run names, states and messages, never student data. E-mail goes over SMTP with the
standard library (STARTTLS and login when the URL asks for them). Sending never raises: a
failing channel is logged and counted in the returned :class:`Delivery`, so a broken mail
server cannot turn a reported failure into a second one.
"""

from __future__ import annotations

import json
import logging
import smtplib
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from studentops.config import Settings

log = logging.getLogger(__name__)

SMTP_TIMEOUT_S = 10.0


@dataclass
class Delivery:
    """Which channels took the alert and which failed (with the reason)."""

    delivered: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def alerts_file(settings: Settings) -> Path:
    return settings.home / "flows" / "alerts.jsonl"


def send_alert(settings: Settings, subject: str, body: str, severity: str = "error") -> Delivery:
    """Record the alert in ``home/flows/alerts.jsonl`` and the log; e-mail it when configured."""
    delivery = Delivery()
    record = {"time": time.time(), "severity": severity, "subject": subject, "body": body}
    try:
        path = alerts_file(settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        delivery.delivered.append("file")
    except OSError as exc:
        delivery.failed["file"] = str(exc)
    log.warning("flow alert: %s", subject)
    if settings.flow_alert_smtp_url is not None and settings.flow_alert_to:
        try:
            send_email(settings, subject, body)
            delivery.delivered.append("email")
        except (OSError, smtplib.SMTPException) as exc:
            log.error("flow alert e-mail failed: %s", exc.__class__.__name__)
            delivery.failed["email"] = f"{exc.__class__.__name__}: {exc}"
    return delivery


def send_email(settings: Settings, subject: str, body: str) -> None:
    """One message to ``flow_alert_to`` through ``flow_alert_smtp_url``.

    Raises:
        OSError, smtplib.SMTPException: the server could not be reached or refused.
    """
    assert settings.flow_alert_smtp_url is not None
    url = urlsplit(settings.flow_alert_smtp_url.get_secret_value())
    options = parse_qs(url.query)
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.flow_alert_from
    message["To"] = ", ".join(settings.flow_alert_to)
    message.set_content(body)
    smtp_class = smtplib.SMTP_SSL if url.scheme == "smtps" else smtplib.SMTP
    with smtp_class(url.hostname or "localhost", url.port or 25, timeout=SMTP_TIMEOUT_S) as smtp:
        if options.get("starttls", ["0"])[0] in ("1", "true", "yes"):
            smtp.starttls()
        if url.username:
            smtp.login(unquote(url.username), unquote(url.password or ""))
        smtp.send_message(message)
