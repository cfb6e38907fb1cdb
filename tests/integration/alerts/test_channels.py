"""Each channel delivers to a real local server; failures are retried, counted and logged."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from studentops.config import load_settings
from studentops.monitoring.alerts.channels.ses import SesChannel
from studentops.monitoring.alerts.channels.smtp import SmtpChannel
from studentops.monitoring.alerts.delivery import COUNTERS, notify
from studentops.monitoring.alerts.engine import raise_alerts
from studentops.monitoring.alerts.message import AlertMessage
from studentops.monitoring.alerts.rules import Observation
from studentops.monitoring.alerts.settings import build_channels

SINCE = datetime(2026, 3, 2, 7, 30, tzinfo=UTC)


def _settings(tmp_path: Path, **kw: Any) -> Any:
    return load_settings(config_file=tmp_path / "none.yaml", home=tmp_path / "home", **kw)


def test_smtp_starttls_login_and_the_mail_as_received(
    tmp_path: Path, smtp_server: Any, artifacts: Path
) -> None:
    settings = _settings(
        tmp_path,
        alert_sender="studentops@school.example",
        alert_report_url="https://reports.school.example/monitoring",
        alert_rules=[
            {"name": "dataset-drift", "kind": "dataset_drift_share", "threshold": 0.3,
             "severity": "warning", "cooldown_hours": 24}
        ],
    )  # fmt: skip
    channel = SmtpChannel(
        "counsellors",
        host=smtp_server.host,
        port=smtp_server.port,
        sender=settings.alert_sender,
        to=["counsellors@school.example"],
        starttls=True,
        username="alerts",
        password=__import__("pydantic").SecretStr("pw"),
        tls_context=smtp_server.client_context,
    )
    link = "https://reports.school.example/monitoring/2026-03-02.html"
    obs = [Observation("dataset_drift_share", 0.45, since=SINCE, report_url=link)]
    run = raise_alerts(settings, "uci-dropout-binary", obs, channels=[channel])
    results = run.wait(30)
    assert [r.ok for r in results] == [True]
    assert smtp_server.logins == ["alerts"] and smtp_server.tls == [True]
    (raw,) = smtp_server.messages
    (artifacts / "alert-email.eml").write_bytes(raw)
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert mail["Subject"] == (
        "[WARNING] studentops uci-dropout-binary: firing: Share of drifted features is above 0.3"
    )
    assert mail["To"] == "counsellors@school.example"
    body = mail.get_body(("plain",)).get_content()
    assert "Since: 2026-03-02 07:30 UTC" in body
    assert "By how much: 0.45 vs threshold 0.3 (+0.15)" in body
    assert "Report: https://reports.school.example/monitoring/2026-03-02.html" in body
    assert mail.get_body(("html",)) is not None
    # The delivery is in the alert history.
    from studentops.monitoring.alerts.store import AlertStore

    store = AlertStore(settings.prediction_log)
    events = [h["event"] for h in store.history("uci-dropout-binary")]
    store.close()
    assert events == ["delivered", "fired"]


def test_smtp_wrong_password_fails_after_retries(tmp_path: Path, smtp_server: Any) -> None:
    from pydantic import SecretStr

    channel = SmtpChannel(
        "bad-login", host=smtp_server.host, port=smtp_server.port, sender="s@school.example",
        to=["x@school.example"], starttls=True, username="alerts", password=SecretStr("nope"),
        tls_context=smtp_server.client_context,
    )  # fmt: skip
    before = COUNTERS.get("bad-login", "failed")
    (result,) = notify(AlertMessage("t", "p"), [channel], retries=1, backoff_s=0.05).wait(30)
    assert not result.ok and result.attempts == 2
    assert "SMTPAuthenticationError" in (result.error or "")
    assert COUNTERS.get("bad-login", "failed") == before + 1
    assert smtp_server.messages == []


def test_ses_v2_sends_from_a_verified_sender_and_rejects_another(
    tmp_path: Path, moto_endpoint: str
) -> None:
    import boto3

    settings = _settings(
        tmp_path,
        aws_endpoint_url=moto_endpoint,
        alert_ses_region="eu-west-1",
        alert_sender="alerts@school.example",
        alert_channels=[{"name": "data-team", "type": "ses", "to": ["data@school.example"]}],
    )
    ses = boto3.client("sesv2", region_name="eu-west-1", endpoint_url=moto_endpoint)
    ses.create_email_identity(EmailIdentity="alerts@school.example")
    (channel,) = build_channels(settings, only="data-team")
    assert isinstance(channel, SesChannel) and channel.region == "eu-west-1"
    message = AlertMessage("Drift on 3 features", "uci-dropout-binary", amount="share 0.45")
    (ok,) = notify(message, [channel], retries=0).wait(30)
    assert ok.ok, ok.error
    # moto keeps sent mail under ses.Message (the HTML part as "body").
    sent = httpx.get(f"{moto_endpoint}/moto-api/data.json").json()["ses"]["Message"]
    mine = [m for m in sent if m["source"] == "alerts@school.example"]
    assert len(mine) == 1 and mine[0]["subject"] == message.subject
    assert mine[0]["destinations"]["ToAddresses"] == ["data@school.example"]
    assert "share 0.45" in mine[0]["body"]

    stranger = SesChannel(
        "unverified", sender="nobody@elsewhere.example", to=["data@school.example"],
        region="eu-west-1", endpoint_url=moto_endpoint,
    )  # fmt: skip
    before = COUNTERS.get("unverified", "failed")
    (bad,) = notify(message, [stranger], retries=1, backoff_s=0.05).wait(30)
    assert not bad.ok and bad.attempts == 2
    assert "MessageRejected" in (bad.error or "")
    assert COUNTERS.get("unverified", "failed") == before + 1


@pytest.mark.parametrize("shape", ["json", "slack", "teams"])
def test_webhook_shapes(tmp_path: Path, webhook_receiver: Any, shape: str) -> None:
    settings = _settings(
        tmp_path,
        alert_channels=[{"name": "hook", "type": "webhook", "url": webhook_receiver.url,
                         "shape": shape, "headers": {"X-Token": "t0k"}}],
    )  # fmt: skip
    message = AlertMessage("Recall fell", "p", severity="critical", amount="0.55 vs 0.70")
    (result,) = notify(message, build_channels(settings), retries=0).wait(30)
    assert result.ok
    (req,) = webhook_receiver.requests
    assert req["headers"]["X-Token"] == "t0k"
    body = req["json"]
    if shape == "json":
        assert body["title"] == "Recall fell" and body["severity"] == "critical"
    elif shape == "slack":
        assert body["text"] == message.subject and body["blocks"][0]["type"] == "header"
    else:
        assert body["attachments"][0]["content"]["type"] == "AdaptiveCard"


def test_webhook_retries_500_twice_then_200(tmp_path: Path, webhook_receiver: Any) -> None:
    webhook_receiver.statuses = [500, 500]
    settings = _settings(
        tmp_path,
        alert_channels=[{"name": "flaky-hook", "type": "webhook", "url": webhook_receiver.url}],
    )
    before = COUNTERS.get("flaky-hook", "retried")
    (result,) = notify(
        AlertMessage("t", "p"), build_channels(settings), retries=3, backoff_s=0.05
    ).wait(30)
    assert result.ok and result.attempts == 3
    assert [r["status"] for r in webhook_receiver.requests] == [500, 500, 200]
    assert COUNTERS.get("flaky-hook", "retried") == before + 2


def test_cli_alerts_test(tmp_path: Path, webhook_receiver: Any) -> None:
    import subprocess
    import sys

    config = tmp_path / "studentops.yaml"
    config.write_text(
        "alert_channels:\n"
        f"  - {{name: team-hook, type: webhook, url: '{webhook_receiver.url}', shape: slack}}\n"
    )
    env = {**__import__("os").environ, "STUDENTOPS_CONFIG": str(config),
           "STUDENTOPS_HOME": str(tmp_path / "home")}  # fmt: skip
    cmd = [sys.executable, "-m", "studentops", "alerts", "test", "--channel", "team-hook"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "sent team-hook" in done.stdout
    assert "Test message" in webhook_receiver.requests[0]["json"]["text"]
    webhook_receiver.statuses = [500, 500]
    env["STUDENTOPS_ALERT_RETRIES"] = "1"
    env["STUDENTOPS_ALERT_BACKOFF_S"] = "0.05"
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "FAILED team-hook after 2 attempts: ChannelError: HTTP 500" in done.stdout
    assert "1 of 1 channels did not deliver" in done.stderr
    unknown = subprocess.run([*cmd[:-1], "nope"], env=env, capture_output=True, text=True)
    assert unknown.returncode == 2 and unknown.stderr.startswith("error: no alert channel")
