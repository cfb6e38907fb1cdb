"""What an alert says, in one shape every channel renders: text, HTML, Slack and Teams JSON.

A message is built from aggregate figures only (a drift share, a metric, a count of rows, a
feature's column name), never from rows: it cannot carry a student's name or raw id because
nothing that holds one is passed to it. Every message answers four questions a reader has:
what happened, since when, by how much, and where the full report is.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Severity = Literal["info", "warning", "critical"]
State = Literal["firing", "resolved", "info"]

_ICON = {"critical": "[CRITICAL]", "warning": "[WARNING]", "info": "[INFO]"}
_COLOUR = {"critical": "#c0392b", "warning": "#e67e22", "info": "#2e86c1"}


@dataclass(frozen=True)
class AlertMessage:
    """One notification.

    Attributes:
        title: what happened, one line (``"Data drift on 6 of 34 features"``).
        profile: the dataset profile the model serves.
        severity: ``info``, ``warning`` or ``critical``.
        state: ``firing`` (a rule's condition holds), ``resolved`` (it no longer does) or
            ``info`` (a test message, a retraining decision).
        since: when the condition was first seen (UTC).
        amount: by how much, in words with units (``"share 0.18 > threshold 0.10"``).
        report_url: where the full report is (None: no report linked).
        details: further aggregate lines (features and their drift, gates of a decision).
        rule: the rule's name (empty for messages that no rule sent).
    """

    title: str
    profile: str
    severity: Severity = "warning"
    state: State = "firing"
    since: datetime = field(default_factory=lambda: datetime.now(UTC))
    amount: str = ""
    report_url: str | None = None
    details: tuple[str, ...] = ()
    rule: str = ""

    @property
    def subject(self) -> str:
        """E-mail subject: severity, state and title."""
        state = "" if self.state == "info" else f" {self.state}:"
        return f"{_ICON[self.severity]} studentops {self.profile}:{state} {self.title}"

    def lines(self) -> list[str]:
        """The body as plain lines (what, since when, by how much, report)."""
        out = [self.title, ""]
        if self.rule:
            out.append(f"Rule: {self.rule} ({self.severity})")
        out.append(f"Profile: {self.profile}")
        verb = "Resolved at" if self.state == "resolved" else "Since"
        out.append(f"{verb}: {_stamp(self.since)}")
        if self.amount:
            out.append(f"By how much: {self.amount}")
        out.extend(f"- {line}" for line in self.details)
        out.append(f"Report: {self.report_url or 'no report linked'}")
        return out

    def text(self) -> str:
        """The plain-text body (:meth:`lines` joined, with a final newline)."""
        return "\n".join(self.lines()) + "\n"

    def html(self) -> str:
        """The HTML body: a small table of the fields and the details as a list, all text
        escaped."""
        items = "".join(f"<li>{html.escape(d)}</li>" for d in self.details)
        link = (
            f'<a href="{html.escape(self.report_url)}">open the report</a>'
            if self.report_url
            else "no report linked"
        )
        rows = [
            ("Profile", html.escape(self.profile)),
            ("Since" if self.state != "resolved" else "Resolved at", _stamp(self.since)),
        ]
        if self.amount:
            rows.append(("By how much", html.escape(self.amount)))
        if self.rule:
            rows.append(("Rule", html.escape(f"{self.rule} ({self.severity})")))
        table = "".join(f"<tr><th align='left'>{k}</th><td>{v}</td></tr>" for k, v in rows)
        return (
            f"<h3 style='color:{_COLOUR[self.severity]}'>{html.escape(self.title)}</h3>"
            f"<table>{table}</table>{f'<ul>{items}</ul>' if items else ''}<p>{link}</p>"
        )

    def as_dict(self) -> dict[str, Any]:
        """The generic JSON payload of a webhook."""
        return {
            "title": self.title,
            "profile": self.profile,
            "severity": self.severity,
            "state": self.state,
            "rule": self.rule,
            "since": _stamp(self.since),
            "amount": self.amount,
            "details": list(self.details),
            "report_url": self.report_url,
            "text": self.text(),
        }

    def slack(self) -> dict[str, Any]:
        """A Slack incoming-webhook payload (``text`` fallback plus Block Kit sections).

        Shape: https://api.slack.com/messaging/webhooks and https://api.slack.com/block-kit.
        """
        fields = [f"*Profile:* {self.profile}", f"*Since:* {_stamp(self.since)}"]
        if self.amount:
            fields.append(f"*By how much:* {self.amount}")
        body = "\n".join(fields + [f"• {d}" for d in self.details])
        if self.report_url:
            body += f"\n<{self.report_url}|Open the report>"
        return {
            "text": self.subject,
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": self.subject[:150]}},
                {"type": "section", "text": {"type": "mrkdwn", "text": body[:3000]}},
            ],
        }

    def teams(self) -> dict[str, Any]:
        """A Microsoft Teams workflow-webhook payload carrying an Adaptive Card (v1.4).

        Shape: https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/
        how-to/connectors-using (the "message" with an adaptive-card attachment).
        """
        facts = [{"title": "Profile", "value": self.profile}]
        facts.append({"title": "Since", "value": _stamp(self.since)})
        if self.amount:
            facts.append({"title": "By how much", "value": self.amount})
        body: list[dict[str, Any]] = [
            {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "text": self.subject},
            {"type": "FactSet", "facts": facts},
        ]
        body.extend({"type": "TextBlock", "text": f"- {d}", "wrap": True} for d in self.details)
        card: dict[str, Any] = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": body,
        }
        if self.report_url:
            card["actions"] = [
                {"type": "Action.OpenUrl", "title": "Open the report", "url": self.report_url}
            ]
        return {
            "type": "message",
            "attachments": [
                {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
            ],
        }


def _stamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
