"""What a monitoring check found: plain, typed, JSON-ready dataclasses.

Public (other parts may use these; fields are only ever added, never renamed or removed):

- :class:`FeatureDrift`: one feature (or the prediction, the risk score, the target) compared
  with the reference: the statistic, its value and threshold, the verdict, and the
  missing-share and unseen-category checks that tell a data team an export changed.
- :class:`DatasetVerdict`: the window as a whole: ``ok``, ``drift`` or ``too_few_rows``.
- :class:`MetricValue`: one performance figure (recall, calibration error, ...) of one model
  version on one window, overall or for one sensitive group.
- :class:`CheckResult`: everything one ``studentops monitor`` run found; ``to_dict()`` is the
  JSON written beside the HTML report, :meth:`CheckResult.from_dict` reads it back.

Alerts (#13), the dashboard (#15), responsible use (#17) and the flows (#14) read these, either
straight from :func:`studentops.monitoring.check.run_check` or back from the store
(:mod:`studentops.monitoring.store`).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

FeatureKind = Literal["numeric", "categorical", "prediction", "risk_score", "target"]
Status = Literal["ok", "drift", "too_few_rows"]
CheckKind = Literal["drift", "performance", "full"]

OK: Status = "ok"
DRIFT: Status = "drift"
TOO_FEW_ROWS: Status = "too_few_rows"


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf to None, datetimes to ISO text, tuples to lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _time(value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))


@dataclass
class FeatureDrift:
    """One column of the window against the reference.

    Attributes:
        feature: column name (``prediction``, ``risk_score`` or the target's name for the
            prediction and target rows).
        kind: what the column is (see ``FeatureKind``).
        statistic: the statistic's short name (``psi``, ``jensen_shannon``, ``wasserstein``...),
            one of :mod:`studentops.monitoring.stats`.
        value: the statistic's value on the window (NaN when not computed).
        threshold: the value at or above which the column counts as drifted.
        drifted: the verdict on the distribution (``value >= threshold``).
        n: rows in the window with a value in this column.
        missing_share: share of the window's rows with no value, 0..1.
        reference_missing_share: the same in the reference, 0..1.
        missing_drifted: the missing share moved by more than ``missing_share_threshold``.
        unseen_share: share of the window's non-missing values that are categories the
            reference never had (0 for numbers), 0..1.
        unseen_drifted: ``unseen_share`` above ``unseen_share_threshold``.
        message: the verdict in words a data team understands.
        details: per-bin or per-category shares (``{"bins": [...], "reference": [...],
            "current": [...]}``), for plots.
    """

    feature: str
    kind: FeatureKind
    statistic: str
    value: float
    threshold: float
    drifted: bool
    n: int = 0
    missing_share: float = 0.0
    reference_missing_share: float = 0.0
    missing_drifted: bool = False
    unseen_share: float = 0.0
    unseen_drifted: bool = False
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def any_drift(self) -> bool:
        """Drift of the distribution, the missing share or the unseen categories."""
        return self.drifted or self.missing_drifted or self.unseen_drifted

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the fields plus ``any_drift`` (NaN as None)."""
        return _clean(asdict(self) | {"any_drift": self.any_drift})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureDrift:
        """An entry from :meth:`to_dict` output; a None statistic reads back as NaN."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["value"] = float("nan") if values.get("value") is None else values["value"]
        return cls(**values)


@dataclass
class DatasetVerdict:
    """The window as a whole.

    Attributes:
        status: ``ok``; ``drift`` when ``drifted_share >= share_threshold`` or the prediction
            drifted; ``too_few_rows`` when the window has fewer than ``min_rows`` rows (no
            statistic is trusted then).
        n_rows: rows in the window.
        min_rows: the smallest window judged (settings.monitor_min_rows).
        n_features: features compared.
        drifted_features: names of the features with any drift, worst first.
        drifted_share: ``len(drifted_features) / n_features``, 0..1.
        share_threshold: settings.monitor_drift_share.
        prediction_drifted: the class mix or the risk-score distribution drifted.
        message: one paragraph in words.
    """

    status: Status
    n_rows: int
    min_rows: int
    n_features: int = 0
    drifted_features: list[str] = field(default_factory=list)
    drifted_share: float = 0.0
    share_threshold: float = 0.5
    prediction_drifted: bool = False
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the fields."""
        return _clean(asdict(self))


@dataclass
class MetricValue:
    """One performance figure of one model version on the predictions that have outcomes.

    Attributes:
        metric: ``recall``, ``precision``, ``ece`` (expected calibration error), ``brier``,
            ``positive_rate``, ``outcome_rate``, or the profile's selection metric by its
            training name (``f1_macro``, ``roc_auc``, ``rmse``...).
        value: the figure (NaN when it cannot be computed, e.g. one class only).
        n: predictions with outcomes behind it.
        model_version: the registered version that made the predictions.
        group_column: the sensitive column (None = everyone).
        group_value: the group's value as text (None = everyone).
        window_start, window_end: the predictions' time span (UTC).
    """

    metric: str
    value: float
    n: int
    model_version: str
    group_column: str | None = None
    group_value: str | None = None
    window_start: dt.datetime | None = None
    window_end: dt.datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the fields (NaN as None, times as ISO text)."""
        return _clean(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MetricValue:
        """A value from :meth:`to_dict` output; a None value reads back as NaN."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["value"] = float("nan") if values.get("value") is None else values["value"]
        values["window_start"] = _time(values.get("window_start"))
        values["window_end"] = _time(values.get("window_end"))
        return cls(**values)


@dataclass
class CheckResult:
    """Everything one check found.

    Attributes:
        profile: the dataset profile.
        model_name, model_version: the reference the window was compared with (the champion).
        kind: ``drift``, ``performance`` or ``full`` (both).
        started_at: when the check ran (UTC).
        window_start, window_end: the window's time span (UTC; None for a file).
        source: ``log`` or the file the window came from.
        n_rows: rows in the window; n_reference: rows behind the reference profile.
        verdict: the dataset-level verdict.
        features: one entry per feature, in profile order.
        prediction: the class-mix and risk-score entries (prediction drift).
        target: the class balance of arrived outcomes vs the reference (target drift).
        metrics: performance figures (empty until outcomes arrive).
        check_id: the store's id once written.
        report_html, report_json: where the report was written.
    """

    profile: str
    model_name: str
    model_version: str
    kind: CheckKind
    started_at: dt.datetime
    verdict: DatasetVerdict
    window_start: dt.datetime | None = None
    window_end: dt.datetime | None = None
    source: str = "log"
    n_rows: int = 0
    n_reference: int = 0
    features: list[FeatureDrift] = field(default_factory=list)
    prediction: list[FeatureDrift] = field(default_factory=list)
    target: FeatureDrift | None = None
    metrics: list[MetricValue] = field(default_factory=list)
    check_id: int | None = None
    report_html: str | None = None
    report_json: str | None = None

    @property
    def drifted(self) -> list[FeatureDrift]:
        """Features with any drift, largest statistic relative to its threshold first."""
        found = [f for f in self.features if f.any_drift]
        return sorted(found, key=_severity, reverse=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: every field, the verdict, features, prediction, metrics and target
        nested; NaN/inf as None; times as ISO text.
        """
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["verdict"] = self.verdict.to_dict()
        out["features"] = [f.to_dict() for f in self.features]
        out["prediction"] = [f.to_dict() for f in self.prediction]
        out["target"] = self.target.to_dict() if self.target else None
        out["metrics"] = [m.to_dict() for m in self.metrics]
        return _clean(out)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        """A result from :meth:`to_dict` output (stored JSON, report JSON); extra keys ignored."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["verdict"] = DatasetVerdict(**data["verdict"])
        values["features"] = [FeatureDrift.from_dict(f) for f in data.get("features", [])]
        values["prediction"] = [FeatureDrift.from_dict(f) for f in data.get("prediction", [])]
        target = data.get("target")
        values["target"] = FeatureDrift.from_dict(target) if target else None
        values["metrics"] = [MetricValue.from_dict(m) for m in data.get("metrics", [])]
        for name in ("started_at", "window_start", "window_end"):
            values[name] = _time(values.get(name))
        return cls(**values)


def _severity(f: FeatureDrift) -> float:
    if f.threshold and math.isfinite(f.value) and f.drifted:
        return f.value / f.threshold
    return 1.0 if f.any_drift else 0.0
