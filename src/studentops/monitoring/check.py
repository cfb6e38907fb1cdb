"""One monitoring check end to end: the plain function behind `studentops monitor`.

:func:`run_check` reads the window (the prediction log, through its columnar read layout, or
a file), compares it with the champion's reference profile (data drift per feature, prediction
drift, the dataset verdict), joins arrived outcomes for performance per model version and
target drift, writes the result to the monitoring tables, and writes the HTML and JSON
report. The flows (#14) and the dashboard (#15) call it as it is; alerts (#13) read its
:class:`~studentops.monitoring.results.CheckResult`.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from studentops.errors import DataError, ModelError
from studentops.monitoring.drift import (
    DriftOptions,
    class_labeller,
    compare_categorical,
    compare_features,
    compare_numeric,
    compare_predictions,
    verdict,
)
from studentops.monitoring.reference import (
    CategoricalReference,
    NumericReference,
    ReferenceProfile,
)
from studentops.monitoring.results import CheckResult, FeatureDrift

if TYPE_CHECKING:
    import pandas as pd

    from studentops.config import Settings
    from studentops.datasets.profile import Profile
    from studentops.registry.models import VersionSummary

log = logging.getLogger(__name__)


def champion_reference(
    profile_name: str, settings: Settings
) -> tuple[ReferenceProfile, VersionSummary]:
    """The champion's reference profile and version.

    Raises:
        ModelError: no champion, or a champion registered without a reference profile.
    """
    from studentops.monitoring.reference import load_reference
    from studentops.registry.models import CHAMPION, registered_model_name, version_by_alias
    from studentops.tracking import client_for

    client = client_for(settings)
    name = registered_model_name(profile_name)
    champion = version_by_alias(client, name, CHAMPION)
    if champion is None:
        raise ModelError(f"no champion for profile '{profile_name}': train and promote one first")
    reference = load_reference(client, champion.run_id) if champion.run_id else None
    if reference is None:
        from studentops.monitoring.backfill import missing_reference_message

        raise ModelError(missing_reference_message(name, champion.version, profile_name))
    return reference, champion


def _metrics_by_version(profile_name: str, settings: Settings) -> dict[str, str | None]:
    from studentops.registry.models import list_versions
    from studentops.tracking import client_for

    return {v.version: v.metric for v in list_versions(client_for(settings), profile_name)}


def feature_columns(
    frame: pd.DataFrame, reference: ReferenceProfile
) -> dict[str, np.ndarray | pd.Series]:
    """The window's feature columns in the form :func:`compare_features` takes."""
    import pandas as pd

    from studentops.monitoring.reference import category_keys

    out: dict[str, Any] = {}
    for name, ref in reference.features.items():
        if name not in frame.columns:
            continue
        values = frame[name]
        if isinstance(ref, CategoricalReference):
            if not (values.dtype == object or isinstance(values.dtype, pd.StringDtype)):
                values = category_keys(values.astype(object))
            out[name] = values
        else:
            if values.dtype != "float64":
                values = pd.to_numeric(values, errors="coerce")
            out[name] = values.to_numpy(dtype=float, copy=False)
    return out


LOG_COLUMNS = ["ts", "student_key", "model_version", "prediction", "risk_score"]


def compare_log_window(
    settings: Settings,
    profile: Profile,
    reference: ReferenceProfile,
    since: dt.datetime | None,
    until: dt.datetime | None,
    opts: DriftOptions,
) -> tuple[pd.DataFrame, list[FeatureDrift]]:
    """Sync the log, then compare its window with ``reference`` ten feature columns at a time.

    Memory: the window's ``LOG_COLUMNS`` plus one batch of features, not the whole window
    (a million rows of 40 features: about 80 MB a batch instead of 320 MB).

    Returns:
        ``(base, features)``: the window's ``LOG_COLUMNS`` as an ``(n_rows, 5)`` frame, oldest
        first, and the feature verdicts in profile order.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the prediction log cannot be read.
    """
    from studentops.monitoring import columnar

    folder = columnar_folder(settings)
    columnar.sync(settings.prediction_log, folder, {profile.name: profile})
    base = columnar.read_window(folder, profile.name, since, until, columns=LOG_COLUMNS)
    names = [c for c in profile.feature_columns if c in reference.features]
    features: list[FeatureDrift] = []
    if names:
        for part in columnar.read_window_batches(folder, profile.name, since, until, names):
            columns = feature_columns(part, reference)
            features += compare_features(reference, columns, len(base), opts, profile=profile)
    return base, features


def columnar_folder(settings: Settings) -> Path:
    """The folder of the log's columnar read layout (:func:`.columnar.columnar_dir`)."""
    from studentops.monitoring.columnar import columnar_dir

    return columnar_dir(settings)


def window_from_file(path: str | Path, profile: Profile) -> pd.DataFrame:
    """A file's rows typed like the log's read layout (numbers float, categories as keys)."""
    from studentops.datasets.loading import read_table
    from studentops.monitoring.columnar import typed_frame

    frame = read_table(path)
    features = [c for c in profile.feature_columns if c in frame.columns]
    if not features:
        raise DataError(f"{path}: none of the profile's feature columns is in the file")
    typed = typed_frame(frame[features], profile)
    for extra in ("prediction", "risk_score"):
        if extra in frame.columns:
            typed[extra] = frame[extra]
    return typed


def run_check(
    profile_name: str,
    *,
    settings: Settings | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    data: str | Path | None = None,
    write: bool = True,
    report: bool = True,
    reference: ReferenceProfile | None = None,
    model_version: str | None = None,
) -> CheckResult:
    """Run one check and (by default) store it and write its report.

    Args:
        profile_name: the dataset profile whose champion is watched.
        since, until: the window (UTC); from the log, ``since`` defaults to
            ``until - monitor_window_days``. Outcomes count when observed in the window.
        data: a CSV/Parquet file to check instead of the log (drift only).
        write: write the result to the monitoring tables.
        report: write ``<home>/monitoring/reports/<profile>-<time>.html`` and ``.json``.
        reference, model_version: compare with this reference instead of the champion's
            (benchmarks, tests).

    Returns:
        The :class:`CheckResult`, with ``check_id`` and report paths when written.

    Raises:
        ModelError: no champion or no reference profile. DataError: an unusable file.
    """
    from studentops.config import load_settings
    from studentops.datasets.profile import load_profile

    settings = settings or load_settings()
    settings.ensure_home()
    profile = load_profile(profile_name, settings.profiles_dir)
    started = dt.datetime.now(dt.UTC)
    opts = DriftOptions.from_settings(settings)
    model_name = f"studentops-{profile.name}"
    if reference is None:
        reference, champion = champion_reference(profile.name, settings)
        model_name, model_version = champion.name, champion.version
    model_version = model_version or "?"
    if data is None:
        until = until or started
        since = since or until - dt.timedelta(days=settings.monitor_window_days)
        window, features = compare_log_window(settings, profile, reference, since, until, opts)
        source, kind = "log", "full"
    else:
        window = window_from_file(data, profile)
        source, kind = str(data), "drift"
        features = compare_features(
            reference, feature_columns(window, reference), len(window), opts, profile=profile
        )
    n_rows = len(window)
    prediction = _prediction_drift(
        window, reference, model_version, opts, data is None, profile=profile
    )
    result = CheckResult(
        profile=profile.name,
        model_name=model_name,
        model_version=str(model_version),
        kind=kind,  # type: ignore[arg-type]
        started_at=started,
        verdict=verdict(features, prediction, n_rows, opts),
        window_start=since,
        window_end=until,
        source=source,
        n_rows=n_rows,
        n_reference=reference.n_rows,
        features=features,
        prediction=prediction,
    )
    if data is None:
        _add_performance(result, profile, reference, settings, opts, since, until)
    if write:
        from studentops.monitoring.store import MonitorStore

        with MonitorStore(settings.prediction_log) as store:
            if report:
                _write_report(result, settings, store)
            store.write_check(result)
        if result.report_json:  # again, now with the check's id
            import json

            Path(result.report_json).write_text(json.dumps(result.to_dict(), indent=1))
    elif report:
        _write_report(result, settings, None)
    return result


def _prediction_drift(
    window: pd.DataFrame,
    reference: ReferenceProfile,
    version: str,
    opts: DriftOptions,
    from_log: bool,
    profile: Profile | None = None,
) -> list[FeatureDrift]:
    import pandas as pd

    from studentops.monitoring.reference import category_keys

    rows = window
    if from_log and "model_version" in window.columns:
        rows = window[window["model_version"].astype(str) == str(version)]
    predictions = values = None
    if "prediction" in rows.columns:
        if reference.predicted_value is not None:  # regression: the predicted score
            values = pd.to_numeric(rows["prediction"], errors="coerce").to_numpy(float)
        else:
            predictions = category_keys(rows["prediction"].astype(object))
    risk = None
    if "risk_score" in rows.columns:
        risk = pd.to_numeric(rows["risk_score"], errors="coerce").to_numpy(float)
    return compare_predictions(reference, predictions, risk, opts, profile=profile, values=values)


def _add_performance(
    result: CheckResult,
    profile: Profile,
    reference: ReferenceProfile,
    settings: Settings,
    opts: DriftOptions,
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> None:
    """Performance per version on outcomes observed in the window, and target drift."""
    import pandas as pd
    import pyarrow.dataset as ds

    from studentops.monitoring import columnar
    from studentops.monitoring.performance import joined, performance
    from studentops.monitoring.reference import category_keys
    from studentops.monitoring.store import MonitorStore

    with MonitorStore(settings.prediction_log) as store:
        outcomes = store.read_outcomes(profile.name)
    if since is not None:
        outcomes = outcomes[outcomes["observed_at"] >= since]
    if until is not None:
        outcomes = outcomes[outcomes["observed_at"] < until]
    if outcomes.empty:
        return
    result.kind = "full"
    folder = columnar_folder(settings)
    files = sorted((folder / columnar._safe(profile.name)).glob("part-*.parquet"))
    if files:
        keys = outcomes["student_key"].tolist()
        predictions = (
            ds.dataset([str(f) for f in files], format="parquet")
            .to_table(
                columns=[
                    "ts",
                    "student_key",
                    "model_version",
                    "prediction",
                    "risk_score",
                    "output",
                ],
                filter=ds.field("student_key").isin(keys),
            )
            .to_pandas()
        )
        rows = joined(predictions, outcomes)
        try:
            by_version = _metrics_by_version(profile.name, settings)
        except Exception:  # the registry is only needed for the metric's name
            by_version = {}
        result.metrics = performance(profile, rows, by_version)
    if reference.target is not None:
        n = len(outcomes)
        if isinstance(reference.target, NumericReference):
            values = pd.to_numeric(outcomes["outcome"], errors="coerce").to_numpy(float)
            target = compare_numeric(
                reference.target_name or "target", reference.target, values, opts, "target"
            )
        else:
            target = compare_categorical(
                reference.target_name or "target",
                reference.target,
                category_keys(outcomes["outcome"].astype(object)),
                opts,
                "target",
                label=class_labeller(profile),
            )
        if n < opts.min_rows:
            target.drifted = target.missing_drifted = target.unseen_drifted = False
            target.message = f"{target.feature}: not judged (too few outcomes: {n})"
        result.target = target


def _write_report(result: CheckResult, settings: Settings, store: Any) -> None:
    from studentops.monitoring.report import write_report

    folder = settings.ensure_home() / "monitoring" / "reports"
    history = store.read_metrics(result.profile) if store is not None else None
    write_report(result, folder, history)
