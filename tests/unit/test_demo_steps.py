"""The demo's steps are numbered in one place, consecutively, whichever part prints them."""

from __future__ import annotations

from studentops.demo import Steps


def test_steps_number_consecutively_across_parts() -> None:
    step = Steps()
    step("generate")
    step("monitoring")  # what demo_drift_check, run_alerts_demo, demo_card_step call
    step("alert rules")
    step("responsible use")
    assert step.titles == ["1. generate", "2. monitoring", "3. alert rules", "4. responsible use"]
