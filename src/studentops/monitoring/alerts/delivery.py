"""Delivery: each channel in its own thread, retried with exponential backoff, counted, logged.

Monitoring must never wait on a mail server: :func:`notify` returns at once with a
:class:`Delivery` whose threads finish in the background (``wait`` for them in a CLI or a
test). A channel that keeps failing is given up after ``retries`` extra attempts; the failure is
counted in :data:`COUNTERS`, logged with the channel's name and the error, and returned.

Backoff: attempt ``k`` (from 1) waits ``backoff_s * 2**(k-1)`` seconds before retrying, capped
at 60 s (the "exponential backoff" of AWS's and Google's client guidelines, without jitter
because one process sends a handful of messages).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from studentops.monitoring.alerts.channels import Channel
    from studentops.monitoring.alerts.message import AlertMessage

from studentops.errors import StudentOpsError

log = logging.getLogger(__name__)

MAX_WAIT_S = 60.0


class DeliveryFailed(StudentOpsError):
    """A channel did not deliver after its retries (CLI exit 1: an outcome, not a mistake)."""

    exit_code = 1


class DeliveryCounters:
    """Process-wide counts per (channel, outcome): ``sent``, ``retried``, ``failed``."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def add(self, channel: str, outcome: str, n: int = 1) -> None:
        """Add ``n`` to the count of ``outcome`` (``sent``, ``retried``, ``failed``) for
        ``channel``."""
        with self._lock:
            self._counts[(channel, outcome)] += n

    def get(self, channel: str, outcome: str) -> int:
        """The count of ``outcome`` for ``channel`` (0 when none)."""
        with self._lock:
            return self._counts[(channel, outcome)]

    def snapshot(self) -> dict[str, dict[str, int]]:
        """A copy of every count: ``{channel: {outcome: n}}`` (for ``/metrics`` and tests)."""
        with self._lock:
            out: dict[str, dict[str, int]] = {}
            for (channel, outcome), n in self._counts.items():
                out.setdefault(channel, {})[outcome] = n
            return out


COUNTERS = DeliveryCounters()


@dataclass(frozen=True)
class DeliveryResult:
    """One channel's outcome: delivered or not, after how many attempts, and the last error."""

    channel: str
    ok: bool
    attempts: int
    error: str | None = None


def backoff_delay(attempt: int, backoff_s: float) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based): ``backoff_s * 2**(k-1)``."""
    return min(MAX_WAIT_S, backoff_s * 2 ** (attempt - 1))


def send_with_retries(
    channel: Channel,
    message: AlertMessage,
    *,
    retries: int,
    backoff_s: float,
    counters: DeliveryCounters = COUNTERS,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryResult:
    """Send once, then up to ``retries`` more times with backoff. Never raises."""
    error: str | None = None
    for attempt in range(1, retries + 2):
        try:
            channel.send(message)
        except Exception as exc:  # any failure of any library is a failed attempt
            error = f"{exc.__class__.__name__}: {_one_line(exc)}"
            if attempt <= retries:
                counters.add(channel.name, "retried")
                delay = backoff_delay(attempt, backoff_s)
                log.warning(
                    "alert channel %s: attempt %d failed (%s); retrying in %.1fs",
                    channel.name,
                    attempt,
                    error,
                    delay,
                )
                sleep(delay)
                continue
            counters.add(channel.name, "failed")
            log.error(
                "alert channel %s: gave up after %d attempts: %s", channel.name, attempt, error
            )
            return DeliveryResult(channel.name, False, attempt, error)
        counters.add(channel.name, "sent")
        log.info(
            "alert channel %s: delivered %r (attempt %d)", channel.name, message.title, attempt
        )
        return DeliveryResult(channel.name, True, attempt, None)
    raise AssertionError("unreachable")


def _one_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else exc.__class__.__name__


class Delivery:
    """Deliveries under way: one daemon thread per channel."""

    def __init__(self) -> None:
        self._threads: list[threading.Thread] = []
        self._results: list[DeliveryResult] = []
        self._lock = threading.Lock()

    def _run(self, fn: Callable[[], DeliveryResult]) -> None:
        result = fn()
        with self._lock:
            self._results.append(result)

    def start(self, fn: Callable[[], DeliveryResult], name: str) -> None:
        """Run ``fn`` (one channel's delivery with retries) on a daemon thread named
        ``alert-<name>``."""
        thread = threading.Thread(target=self._run, args=(fn,), name=f"alert-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def wait(self, timeout_s: float | None = None) -> list[DeliveryResult]:
        """Wait for every channel (at most ``timeout_s`` in all); the results so far."""
        end = None if timeout_s is None else time.monotonic() + timeout_s
        for thread in self._threads:
            left = None if end is None else max(0.0, end - time.monotonic())
            thread.join(left)
        with self._lock:
            return list(self._results)


def notify(
    message: AlertMessage,
    channels: Sequence[Channel],
    *,
    retries: int = 3,
    backoff_s: float = 1.0,
    on_result: Callable[[DeliveryResult], None] | None = None,
) -> Delivery:
    """Start delivering ``message`` on every channel; returns at once.

    Args:
        message: what to send.
        channels: where to send it.
        retries: extra attempts per channel after the first.
        backoff_s: base of the exponential backoff, seconds.
        on_result: called (from the channel's thread) with each channel's result, e.g. to
            record it in the alert store.
    """
    delivery = Delivery()
    for channel in channels:

        def job(channel: Channel = channel) -> DeliveryResult:
            result = send_with_retries(channel, message, retries=retries, backoff_s=backoff_s)
            if on_result is not None:
                try:
                    on_result(result)
                except Exception:  # recording a result must not lose the others
                    log.exception("recording the delivery on %s failed", channel.name)
            return result

        delivery.start(job, channel.name)
    return delivery
