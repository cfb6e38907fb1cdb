"""Observations for the rules: from a monitoring check, and from the services' health.

From a :class:`~studentops.monitoring.results.CheckResult` (issue 12):

* ``dataset_drift_share``: the verdict's share of drifted features (not when the window had
  too few rows: no statistic is trusted then);
* ``feature_drift``: each feature's statistic *divided by its own threshold* (1.0 = at the
  threshold), so one rule covers PSI, Jensen-Shannon and Wasserstein alike;
* ``unseen_categories``: each feature's share of values in categories the reference never had;
* ``missing_surge``: each feature's missing share minus the reference's (0..1);
* ``performance_below``: each overall figure of the champion's predictions with outcomes;
* ``performance_drop``: reference minus now for those figures whose reference the champion's
  registered test metrics hold (now minus reference for lower-is-better figures: ECE, Brier);
* ``fairness_gap``: the largest gap in ``recall`` between the groups of any sensitive column,
  over groups of at least ``MIN_GROUP`` students (the audit's ``min_group_size``).

From the services: ``no_predictions_hours`` (prediction log), ``champion_age_days`` (registry),
``prediction_log_dropped`` (the API's Prometheus counter, read from ``alert_metrics_url``).
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from studentops.monitoring.alerts.rules import Observation

if TYPE_CHECKING:
    from studentops.config import Settings
    from studentops.monitoring.results import CheckResult

log = logging.getLogger(__name__)

MIN_GROUP = 20  # same as training.fairness.fairness_report's default min_group_size
DROPPED_METRIC = "studentops_prediction_log_dropped"


def report_link(result: CheckResult, base_url: str | None) -> str | None:
    """The check's HTML report: under ``alert_report_url`` when set, else a file:// URL."""
    if not result.report_html:
        return None
    path = Path(result.report_html)
    if base_url:
        return f"{base_url.rstrip('/')}/{path.name}"
    return path.resolve().as_uri()


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def observations_from_check(
    result: CheckResult,
    reference_metrics: dict[str, float] | None = None,
    report_url: str | None = None,
) -> list[Observation]:
    """Every observation a check result supports (see the module docstring).

    Args:
        result: one check.
        reference_metrics: the champion's held-out test metrics (registry tags), for drops.
        report_url: the report link to carry (default: :func:`report_link` without a base).
    """
    from studentops.registry.models import greater_is_better

    link = report_url if report_url is not None else report_link(result, None)
    since = result.window_start or result.started_at
    out: list[Observation] = []

    def add(kind: str, value: float, subject: str = "", reference: float | None = None) -> None:
        if _finite(value):
            out.append(Observation(kind, float(value), subject, since, reference, link))

    if result.verdict.status != "too_few_rows":
        add("dataset_drift_share", result.verdict.drifted_share)
        for f in result.features:
            if f.threshold and _finite(f.value):
                add("feature_drift", f.value / f.threshold, f.feature)
            add("missing_surge", f.missing_share - f.reference_missing_share, f.feature)
            if f.kind == "categorical":
                add("unseen_categories", f.unseen_share, f.feature)
    reference = reference_metrics or {}
    groups: dict[str, dict[str, float]] = defaultdict(dict)
    for m in result.metrics:
        if m.model_version != result.model_version or not _finite(m.value):
            continue
        if m.group_column is None:
            add("performance_below", m.value, m.metric)
            if m.metric in reference and _finite(reference[m.metric]):
                ref = reference[m.metric]
                drop = ref - m.value if greater_is_better(m.metric) else m.value - ref
                add("performance_drop", drop, m.metric, reference=ref)
        elif m.metric == "recall" and m.n >= MIN_GROUP and m.group_value is not None:
            groups[m.group_column][m.group_value] = m.value
    gaps = [max(v.values()) - min(v.values()) for v in groups.values() if len(v) >= 2]
    if gaps:
        add("fairness_gap", max(gaps))
    return out


def health_observations(
    settings: Settings, profile: str, now: datetime | None = None
) -> list[Observation]:
    """Observations about the services: hours since the last prediction, the champion's age,
    prediction-log rows dropped since the last look. A source that cannot be read is skipped
    (logged), never raised: health checks must not break monitoring."""
    now = now or datetime.now(UTC)
    out: list[Observation] = []
    for source in (_last_prediction, _champion_age, _dropped_rows):
        try:
            found = source(settings, profile, now)
        except Exception as exc:  # one unreadable source must not hide the others
            log.warning("health observation %s skipped: %s", source.__name__, exc)
            continue
        if found is not None:
            out.append(found)
    return out


def _last_prediction(settings: Settings, profile: str, now: datetime) -> Observation | None:
    from sqlalchemy import func, select

    from studentops.monitoring.predlog import create_table, make_engine, predictions

    engine = make_engine(settings.prediction_log)
    try:
        create_table(engine)
        query = select(func.max(predictions.c.ts)).where(predictions.c.profile == profile)
        with engine.connect() as conn:
            last = conn.execute(query).scalar()
    finally:
        engine.dispose()
    if last is None:
        return None  # nothing ever logged: a new deployment, not an outage
    last = last.replace(tzinfo=UTC) if last.tzinfo is None else last
    hours = (now - last).total_seconds() / 3600
    return Observation("no_predictions_hours", hours, "", last)


def _champion_age(settings: Settings, profile: str, now: datetime) -> Observation | None:
    from studentops.registry.models import CHAMPION, registered_model_name, version_by_alias
    from studentops.tracking import client_for

    found = version_by_alias(client_for(settings), registered_model_name(profile), CHAMPION)
    if found is None:
        return None
    days = (now - found.created).total_seconds() / 86400
    return Observation("champion_age_days", days, f"v{found.version}", found.created)


def _dropped_rows(settings: Settings, profile: str, now: datetime) -> Observation | None:
    """Rows dropped since the previous look, from the API's cumulative Prometheus counter."""
    if not settings.alert_metrics_url:
        return None
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    from studentops.monitoring.alerts.store import AlertStore

    text = httpx.get(settings.alert_metrics_url, timeout=10).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        if family.name == DROPPED_METRIC:
            total += sum(s.value for s in family.samples if s.name.endswith("_total"))
    store = AlertStore(settings.prediction_log)
    try:
        previous = store.counter(profile, DROPPED_METRIC)
        store.set_counter(profile, DROPPED_METRIC, total, now)
    finally:
        store.close()
    # A restarted API starts its counter again from zero: then everything counted is new.
    new = total if previous is None or total < previous else total - previous
    return Observation("prediction_log_dropped", new, "", now)
