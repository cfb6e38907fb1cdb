"""Wiring a worker from settings: backends from URLs, the champion, the prediction log, signals.

:func:`run_stream` is what ``studentops stream`` runs; it is also the entry point for embedding
a worker with a model of one's own (pass ``scorer``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

from studentops.config import Settings, load_settings
from studentops.streaming.backends import (
    check_url,
    default_dead_letter_url,
    open_sink,
    open_source,
)
from studentops.streaming.scoring import HolderScorer, PredictionLogger, Scorer, open_holder
from studentops.streaming.worker import Worker, WorkerStats

log = logging.getLogger(__name__)


def default_consumer() -> str:
    """host-pid: unique per process. Give a stable name (a pod name) to resume on restart
    without waiting for another worker to claim what this one left pending."""
    return f"{socket.gethostname()}-{os.getpid()}"


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[threading.Event]:
    """SIGTERM and SIGINT set ``stop``: the worker finishes its batch, acknowledges, exits."""
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handle(signum: int, _frame: Any) -> None:
        log.info("signal %s: finishing the current batch", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_stream(
    source_url: str,
    sink_url: str,
    *,
    settings: Settings | None = None,
    dead_letter_url: str | None = None,
    profile: str | None = None,
    model_uri: str | None = None,
    batch_size: int | None = None,
    max_wait_ms: int | None = None,
    consumer: str | None = None,
    scorer: Callable[[], Scorer] | None = None,
    stop: threading.Event | None = None,
) -> WorkerStats:
    """Score events from ``source_url`` into ``sink_url`` until ``stop`` is set.

    Args:
        source_url, sink_url: stream URLs (``redis://...``, ``kinesis://...``).
        settings: defaults for everything not given; :func:`load_settings` when None.
        dead_letter_url: where poison events go; default ``settings.stream_dead_letter``,
            else the source stream name + ``-dead``.
        profile: follow this profile's champion (default ``settings.serve_profile``).
        model_uri: pin a model instead (default ``settings.stream_model_uri``).
        batch_size, max_wait_ms: micro-batch limits (default from settings).
        consumer: this worker's name in a Redis consumer group (default host-pid).
        scorer: provide the model yourself (skips the registry).
        stop: set it to stop after the current batch.

    Returns:
        The worker's counters.
    """
    settings = settings or load_settings()
    stop = stop or threading.Event()
    dead_url = dead_letter_url or settings.stream_dead_letter or default_dead_letter_url(source_url)
    for url in (source_url, sink_url, dead_url):
        check_url(url)
    holder = None
    if scorer is None:
        holder = open_holder(settings, profile, model_uri)
        scorer = HolderScorer(holder)
    if settings.prediction_log_url is None:
        settings.ensure_home()
    from studentops.monitoring.predlog import PredictionLog

    prediction_log = PredictionLog(
        settings.prediction_log, settings.pseudonym_key, queue_size=settings.log_queue_size
    )
    with contextlib.ExitStack() as stack:
        if holder is not None:
            stack.callback(holder.stop)
        stack.callback(prediction_log.close)
        prediction_log.start()
        source = open_source(source_url, settings, consumer or default_consumer())
        stack.callback(source.close)
        sink = open_sink(sink_url, settings)
        stack.callback(sink.close)
        dead = open_sink(dead_url, settings)
        stack.callback(dead.close)
        worker = Worker(
            source,
            sink,
            dead,
            scorer,
            batch_size=batch_size or settings.stream_batch_size,
            max_wait_ms=settings.stream_max_wait_ms if max_wait_ms is None else max_wait_ms,
            on_scored=PredictionLogger(prediction_log),
            max_deliveries=settings.stream_max_deliveries,
        )
        log.info("streaming %s -> %s (dead letters: %s)", source_url, sink_url, dead_url)
        stats = worker.run(stop)
    return stats
