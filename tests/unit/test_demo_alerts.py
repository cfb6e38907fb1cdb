"""The demo's alert step: a rule firing within its cooldown is said so, the retraining has a
trigger text, and the local channel does not print a second copy of each alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from studentops.config import load_settings
from studentops.demo_alerts import demo_trigger, still_firing, without_console_copy
from studentops.monitoring.alerts.channels.local import FileChannel
from studentops.monitoring.alerts.engine import raise_alerts
from studentops.monitoring.alerts.rules import Observation
from studentops.monitoring.alerts.settings import build_channels

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def test_a_second_run_within_the_cooldown_shows_the_rule_and_a_trigger(home: Path) -> None:
    settings = load_settings()
    settings.ensure_home()
    observed = [Observation("dataset_drift_share", 0.8, report_url="file:///tmp/r.html")]
    first = raise_alerts(settings, "p", observed, now=T0, channels=[])
    first.wait(5)
    assert first.transitions and not still_firing(settings, "p", first)
    second = raise_alerts(settings, "p", observed, now=T0 + timedelta(hours=1), channels=[])
    second.wait(5)
    assert not second.transitions and second.firing  # within the cooldown: nothing sent
    lines = still_firing(settings, "p", second)
    text = "\n".join(lines)
    assert "alert(s) still firing" in lines[0] and "cooldown" in text
    assert second.firing[0].title in text and "2026-03-01 08:00 UTC" in text
    trigger = demo_trigger(second)
    assert trigger.startswith("demo: rule ") and second.firing[0].rule.name in trigger


def test_the_demo_trigger_is_never_empty(home: Path) -> None:
    settings = load_settings()
    settings.ensure_home()
    quiet = raise_alerts(settings, "p", [Observation("dataset_drift_share", 0.0)], channels=[])
    assert demo_trigger(quiet).startswith("demo: no rule firing")


def test_the_local_channel_writes_its_file_without_a_console_copy(home: Path) -> None:
    channels = without_console_copy(build_channels(load_settings()))
    local = [c for c in channels if isinstance(c, FileChannel)]
    assert local and all(c.console is None for c in local)
