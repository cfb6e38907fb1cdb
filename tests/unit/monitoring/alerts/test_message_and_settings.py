"""Message shapes and channel settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studentops.config import load_settings
from studentops.errors import ConfigError
from studentops.monitoring.alerts.message import AlertMessage
from studentops.monitoring.alerts.settings import build_channels

MSG = AlertMessage(
    title="Share of features that drifted is above 0.3",
    profile="uci-dropout-binary",
    amount="0.45 vs threshold 0.3 (+0.15)",
    report_url="https://reports.example/r.html",
    details=("Absences: psi 0.41",),
    rule="dataset-drift",
)


def test_slack_and_teams_shapes() -> None:
    slack = MSG.slack()
    assert slack["text"] == MSG.subject
    assert slack["blocks"][0]["type"] == "header"
    assert "<https://reports.example/r.html|Open the report>" in slack["blocks"][1]["text"]["text"]
    teams = MSG.teams()
    card = teams["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["type"] == "AdaptiveCard"
    assert card["content"]["actions"][0]["url"] == "https://reports.example/r.html"
    json.dumps(slack), json.dumps(teams)  # JSON-ready


def test_html_escapes() -> None:
    bad = AlertMessage(title="<script>x</script>", profile="p")
    assert "<script>" not in bad.html()


def test_no_channel_means_local_file(tmp_path: Path) -> None:
    settings = load_settings(config_file=tmp_path / "none.yaml", home=tmp_path)
    (channel,) = build_channels(settings)
    channel.send(MSG)
    line = json.loads((tmp_path / "alerts" / "alerts.jsonl").read_text())
    assert line["title"] == MSG.title and line["report_url"] == MSG.report_url


def test_channel_settings_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def build(channels: list[dict[str, object]], **kw: object) -> object:
        s = load_settings(
            config_file=tmp_path / "n.yaml", home=tmp_path, alert_channels=channels, **kw
        )
        return build_channels(s)

    with pytest.raises(ConfigError, match=r"alert_channels\.0\.smtp\.to"):
        build([{"name": "m", "type": "smtp", "host": "h"}])
    with pytest.raises(ConfigError, match="no sender"):
        build([{"name": "m", "type": "smtp", "host": "h", "to": ["a@b.c"]}])
    with pytest.raises(ConfigError, match="SMTP_PW is not set"):
        build([{"name": "m", "type": "smtp", "host": "h", "to": ["a@b"], "sender": "s@b",
                "password_env": "SMTP_PW"}])  # fmt: skip
    with pytest.raises(ConfigError, match="no AWS region"):
        build([{"name": "s", "type": "ses", "to": ["a@b"], "sender": "s@b"}])
    with pytest.raises(ConfigError, match="no alert channel named 'x'"):
        build_channels(load_settings(config_file=tmp_path / "n.yaml", home=tmp_path), only="x")
    monkeypatch.setenv("HOOK_TOKEN", "Bearer abc")
    (hook,) = build(
        [
            {
                "name": "w",
                "type": "webhook",
                "url": "http://x",
                "headers_env": {"Authorization": "HOOK_TOKEN"},
            }
        ]
    )
    assert hook.headers == {"Authorization": "Bearer abc"}  # type: ignore[attr-defined]
