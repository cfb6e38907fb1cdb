"""The latest monitoring figures as Prometheus metrics, for the API's ``/metrics``.

A custom collector: at scrape time it reads the newest check of every profile from the
monitoring tables (cached for ``ttl_s``, so scrapes cost one small query at most every 30 s)
and yields gauges. A database that cannot be read yields nothing: a scrape never fails
because monitoring is unavailable.

- ``studentops_drift_detected{profile}``: 1 when the newest check said drift, else 0;
- ``studentops_drift_too_few_rows{profile}``: 1 when it could not judge (too few rows);
- ``studentops_drift_share{profile}``: share of drifted features, 0..1;
- ``studentops_feature_drift{profile,feature,kind,statistic}``: the statistic's value;
- ``studentops_feature_drifted{profile,feature,kind}``: 1 when drifted (any of the checks);
- ``studentops_feature_missing_share{profile,feature}``: missing share in the window, 0..1;
- ``studentops_model_performance{profile,version,metric,group}``: performance figures
  (``group`` is ``all`` or ``column=value``);
- ``studentops_monitor_last_check_timestamp_seconds{profile}``: when the check ran (Unix).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)


class MonitoringCollector(Collector):
    """Yields the newest check's figures of every profile (see the module docstring)."""

    def __init__(self, url: str, ttl_s: float = 30.0) -> None:
        self.url = url
        self.ttl_s = ttl_s
        self._cached: tuple[float, dict[str, Any]] = (-math.inf, {})
        self._lock = threading.Lock()

    def describe(self) -> list[Any]:
        """Nothing: describing would read the database when the collector is registered."""
        return []  # no database read when the collector is registered

    def _latest(self) -> dict[str, Any]:
        with self._lock:
            stamp, found = self._cached
            if time.monotonic() - stamp < self.ttl_s:
                return found
            try:
                from studentops.monitoring.store import MonitorStore

                with MonitorStore(self.url) as store:
                    found = store.latest_checks()
            except Exception as exc:  # monitoring down must not break the scrape
                log.warning("monitoring metrics unavailable: %s", str(exc).splitlines()[0])
                found = {}
            self._cached = (time.monotonic(), found)
            return found

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The latest check's figures per profile as gauges, read from the store at scrape time."""
        checks = self._latest()
        detected = GaugeMetricFamily(
            "studentops_drift_detected",
            "Newest check found drift (1) or not (0).",
            labels=["profile"],
        )
        too_few = GaugeMetricFamily(
            "studentops_drift_too_few_rows",
            "Newest check had too few rows to judge.",
            labels=["profile"],
        )
        share = GaugeMetricFamily(
            "studentops_drift_share", "Share of drifted features, 0-1.", labels=["profile"]
        )
        value = GaugeMetricFamily(
            "studentops_feature_drift",
            "Drift statistic per feature (newest check).",
            labels=["profile", "feature", "kind", "statistic"],
        )
        drifted = GaugeMetricFamily(
            "studentops_feature_drifted",
            "Feature drifted in the newest check (distribution, missing share or unseen values).",
            labels=["profile", "feature", "kind"],
        )
        missing = GaugeMetricFamily(
            "studentops_feature_missing_share",
            "Missing share per feature in the newest window, 0-1.",
            labels=["profile", "feature"],
        )
        perf = GaugeMetricFamily(
            "studentops_model_performance",
            "Performance on arrived outcomes (newest check).",
            labels=["profile", "version", "metric", "group"],
        )
        when = GaugeMetricFamily(
            "studentops_monitor_last_check_timestamp_seconds",
            "When the newest check ran (Unix seconds).",
            labels=["profile"],
        )
        for profile, result in sorted(checks.items()):
            v = result.verdict
            detected.add_metric([profile], 1.0 if v.status == "drift" else 0.0)
            too_few.add_metric([profile], 1.0 if v.status == "too_few_rows" else 0.0)
            share.add_metric([profile], float(v.drifted_share))
            when.add_metric([profile], result.started_at.timestamp())
            entries = [*result.features, *result.prediction]
            if result.target is not None:
                entries.append(result.target)
            for f in entries:
                if math.isfinite(f.value):
                    value.add_metric([profile, f.feature, f.kind, f.statistic], f.value)
                drifted.add_metric([profile, f.feature, f.kind], 1.0 if f.any_drift else 0.0)
                missing.add_metric([profile, f.feature], f.missing_share)
            for m in result.metrics:
                if math.isfinite(m.value):
                    group = f"{m.group_column}={m.group_value}" if m.group_column else "all"
                    perf.add_metric([profile, m.model_version, m.metric, group], m.value)
        yield from (detected, too_few, share, value, drifted, missing, perf, when)
