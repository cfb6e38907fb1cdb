"""Retries with backoff, counting, and never blocking the caller."""

from __future__ import annotations

import threading
import time

from studentops.monitoring.alerts.delivery import (
    DeliveryCounters,
    backoff_delay,
    notify,
    send_with_retries,
)
from studentops.monitoring.alerts.message import AlertMessage

MESSAGE = AlertMessage(title="t", profile="p")


class Flaky:
    def __init__(self, name: str, failures: int) -> None:
        self.name, self.failures, self.calls = name, failures, 0

    def send(self, message: AlertMessage) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError(f"refused #{self.calls}")


def test_backoff_doubles_and_caps() -> None:
    assert [backoff_delay(k, 0.5) for k in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert backoff_delay(20, 1.0) == 60.0


def test_retries_until_success_counted() -> None:
    counters, waits = DeliveryCounters(), []
    channel = Flaky("hook", failures=2)
    result = send_with_retries(
        channel, MESSAGE, retries=3, backoff_s=0.1, counters=counters, sleep=waits.append
    )
    assert result.ok and result.attempts == 3 and channel.calls == 3
    assert waits == [0.1, 0.2]
    assert counters.snapshot() == {"hook": {"retried": 2, "sent": 1}}


def test_gives_up_and_counts_failure(caplog) -> None:  # type: ignore[no-untyped-def]
    counters = DeliveryCounters()
    result = send_with_retries(
        Flaky("mail", failures=99), MESSAGE, retries=2, backoff_s=0, counters=counters,
        sleep=lambda s: None,
    )  # fmt: skip
    assert not result.ok and result.attempts == 3
    assert result.error == "ConnectionError: refused #3"
    assert counters.get("mail", "failed") == 1 and counters.get("mail", "retried") == 2
    assert "gave up after 3 attempts" in caplog.text


def test_notify_returns_before_a_slow_channel_answers() -> None:
    release = threading.Event()

    class Slow:
        name = "slow"

        def send(self, message: AlertMessage) -> None:
            release.wait(5)

    fast = Flaky("fast", failures=0)
    started = time.perf_counter()
    delivery = notify(MESSAGE, [Slow(), fast], retries=0, backoff_s=0)
    assert time.perf_counter() - started < 0.5
    release.set()
    results = {r.channel: r.ok for r in delivery.wait(5)}
    assert results == {"slow": True, "fast": True}
