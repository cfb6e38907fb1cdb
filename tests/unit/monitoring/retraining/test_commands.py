"""`studentops retrain` and `studentops alerts` as a user meets them: one line on error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "studentops", *args], capture_output=True, text=True, timeout=120
    )


def test_retrain_errors_are_one_line(tmp_path: Path, home: Path) -> None:
    missing = run("retrain", "-p", "uci-dropout-binary", "--data", str(tmp_path / "no.csv"))
    assert missing.returncode == 2
    assert missing.stderr.startswith("error:") and "Traceback" not in missing.stderr
    few = tmp_path / "few.csv"
    few.write_text("Target\nDropout\n")
    res = run("retrain", "-p", "uci-dropout-binary", "--data", str(few))
    assert res.returncode == 2 and res.stderr.startswith("error:"), res.stderr
    res = run("retrain", "-p", "uci-dropout-binary")  # nothing in the monitoring store yet
    assert res.returncode == 2
    assert "no outcomes recorded for 'uci-dropout-binary'" in res.stderr


def test_alerts_list_and_bad_channel_settings(tmp_path: Path, home: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    res = run("alerts", "list", "--history")
    assert res.returncode == 0, res.stderr
    config = tmp_path / "bad.yaml"
    config.write_text("alert_channels:\n  - {name: m, type: carrier-pigeon}\n")
    monkeypatch.setenv("STUDENTOPS_CONFIG", str(config))
    res = run("alerts", "test")
    assert res.returncode == 2
    assert res.stderr.startswith("error: setting 'alert_channels.0")
