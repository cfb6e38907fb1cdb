"""Prometheus metrics of the API: requests, latency, errors, predictions, model version, log drops.

Metrics live in a registry per app (tests build many apps). With several uvicorn workers the
``serve`` command sets ``PROMETHEUS_MULTIPROC_DIR`` before any worker starts, each worker writes
its values to files there, and ``/metrics`` merges them, so one scrape sees the whole server.
The request middleware is plain ASGI: Starlette's BaseHTTPMiddleware costs far more per request.
"""

from __future__ import annotations

import os
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class Metrics:
    """The API's metric objects, registered in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "studentops_requests", "HTTP requests.", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "studentops_request_latency_seconds",
            "Time to answer a request.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "studentops_request_errors",
            "Requests answered with an error status (4xx/5xx).",
            ["route", "status"],
            registry=r,
        )
        self.predictions = Counter(
            "studentops_predictions",
            "Students scored, by predicted class (risk band for regression).",
            ["predicted", "band"],
            registry=r,
        )
        self.invalid_rows = Counter(
            "studentops_invalid_rows", "Rows rejected by validation.", ["endpoint"], registry=r
        )
        self.model_info = Gauge(
            "studentops_model_info",
            "The served model (1 for the current name and version).",
            ["name", "version"],
            registry=r,
            multiprocess_mode="max",
        )
        self.log_dropped = Counter(
            "studentops_prediction_log_dropped",
            "Prediction log records dropped (queue full or write error).",
            ["reason"],
            registry=r,
        )
        self.reloads = Counter(
            "studentops_model_reloads", "Model reload attempts.", ["outcome"], registry=r
        )
        self._served: tuple[str, str] | None = None
        self._extra: list[Any] = []  # collectors of other parts (monitoring's latest figures)
        self._predicted: dict[tuple[str, Any], Any] = {}

    def set_model(self, name: str, version: str) -> None:
        """Mark the served model; the previous one drops to 0."""
        if self._served is not None:
            self.model_info.labels(*self._served).set(0)
        self.model_info.labels(name, version).set(1)
        self._served = (name, version)

    def count_predictions(self, predicted: list[Any], bands: list[str]) -> None:
        """Count answers by (predicted class, risk band); both lists have one item per student.

        Raises:
            ValueError: the two lists differ in length (a batch of more than one answer).
        """
        if len(predicted) == 1:
            key = (str(predicted[0]), bands[0])
            series = self._predicted.get(key)
            if series is None:  # classes x bands: a handful of series, resolved once each
                series = self._predicted[key] = self.predictions.labels(*key)
            series.inc()
            return
        tally: dict[tuple[str, str], int] = {}
        for p, b in zip(predicted, bands, strict=True):
            key = (str(p), b)
            tally[key] = tally.get(key, 0) + 1
        for (p, b), n in tally.items():
            self.predictions.labels(p, b).inc(n)

    def on_log_drop(self, reason: str, count: int) -> None:
        """Count ``count`` predictions the prediction log dropped, by ``reason``."""
        self.log_dropped.labels(reason).inc(count)

    def add_collector(self, collector: Any) -> None:
        """Expose another part's collector too (also in multiprocess mode)."""
        self.registry.register(collector)
        self._extra.append(collector)

    def render(self) -> tuple[bytes, str]:
        """The exposition text; merged over worker processes in multiprocess mode."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            for collector in self._extra:
                registry.register(collector)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Counts and times every HTTP request by route.

    The label is the matched route's path template (``/v1/model``, ``/metrics``, ``/docs``) and
    "unmatched" for anything else, so a scanner probing random URLs cannot blow up the number
    of series.
    """

    def __init__(self, app: Any, metrics: Metrics, paths: frozenset[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.paths = paths
        # (method, route, status) -> its series; bounded: routes and statuses are finite and
        # methods are what the router accepts or "unmatched" paths' methods
        self._series: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """The ASGI entry: time the request and count it by method, route and status."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            # Routes of included routers are not in the app's route list (FastAPI keeps them in
            # the router it includes); the router records the one it matched in the scope.
            route = scope.get("route")
            template = getattr(route, "path", None)
            if template is not None:
                path = template
            else:
                path = scope["path"] if scope["path"] in self.paths else "unmatched"
            key = (scope["method"], path, status)
            series = self._series.get(key)
            if series is None:  # labels() costs a lock and a dict build: resolve each once
                m = self.metrics
                series = self._series[key] = (
                    m.requests.labels(scope["method"], path, str(status)),
                    m.latency.labels(path),
                    m.errors.labels(path, str(status)) if status >= 400 else None,
                )
            requests, latency, errors = series
            requests.inc()
            latency.observe(time.perf_counter() - start)
            if errors is not None:
                errors.inc()
