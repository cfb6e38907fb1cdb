"""`output`: tables that fit the terminal or turn into blocks; warnings a command echoes itself."""

from __future__ import annotations

import io
import logging

import pytest
from rich.console import Console

from studentops.output import echoed_by_command, print_rows

HEADER = ["rule", "profile", "subject", "state", "severity", "since (UTC)", "value"]
ROWS = [
    [
        "student-performance-feature-drift",
        "student-performance",
        "StudyTimeWeekly",
        "firing",
        "warning",
        "2026-11-30 06:00",
        "0.3123",
    ],
    ["drift", "uci-dropout-binary", "-", "resolved", "critical", "2026-11-29 07:00", "-"],
]


def _printed(width: int) -> list[str]:
    out = io.StringIO()
    print_rows(Console(file=out, width=width), HEADER, ROWS, title="alerts")
    return out.getvalue().splitlines()


def test_a_wide_terminal_gets_the_table() -> None:
    lines = _printed(200)
    assert any("student-performance-feature-drift" in line and "0.3123" in line for line in lines)


def test_a_narrow_terminal_gets_one_block_per_row_nothing_cut() -> None:
    lines = _printed(80)
    assert max(len(line) for line in lines) <= 80
    text = "\n".join(lines)
    assert "student-performance-feature-drift" in text and "…" not in text
    assert any(line.strip().startswith("subject") and "StudyTimeWeekly" in line for line in lines)


def test_a_command_that_echoes_warnings_shows_them_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = logging.getLogger("studentops.training.pipeline")
    caplog.set_level(logging.WARNING)
    with echoed_by_command("studentops.training.pipeline"):
        log.warning("tiny classes: echoed by the command")
        log.error("an error still shows")
    log.warning("library use: logged")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["an error still shows", "library use: logged"]
