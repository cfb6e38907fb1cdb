"""What the Monitoring page shows: drift per feature and performance over time, alerts, reports.

Everything is read from the monitoring database (the prediction log's URL): the check tables
of :mod:`studentops.monitoring.store`, the alert tables (``alert_state``, ``alert_history``)
when the alerting part has created them, and the prediction log itself for the number of
predictions per day. Each reader returns an empty frame when there is nothing yet, so the page
can say "no data yet" instead of failing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from studentops.config import Settings

ALERT_TABLES = ("alert_state", "alert_history")


def _url(settings: Settings) -> str:
    from studentops.databases import with_installed_driver

    if not settings.prediction_log_url:
        settings.ensure_home()
    return with_installed_driver(settings.prediction_log)


def drift_over_time(settings: Settings, profile: str) -> pd.DataFrame:
    """One row per feature per check: ``started_at``, ``feature``, ``kind``, ``statistic``,
    ``value``, ``threshold``, ``drifted``, ``missing_share``, ``unseen_share``, ``message``."""
    from studentops.monitoring.store import MonitorStore

    with MonitorStore(_url(settings)) as store:
        return store.read_features(profile)


def worst_features(drift: pd.DataFrame, n: int = 8) -> pd.DataFrame:
    """The rows of the ``n`` features whose drift came closest to (or past) its threshold at
    any check, with ``ratio`` = value / threshold (1 = alarm). Eight: the colours of the
    colour-blind-safe palette; the table below the chart lists every feature."""
    if drift.empty:
        return drift.assign(ratio=pd.Series(dtype=float))
    frame = drift.assign(ratio=drift["value"] / drift["threshold"])
    worst = frame.groupby("feature")["ratio"].max().sort_values(ascending=False)
    return frame[frame["feature"].isin(worst.index[:n])].reset_index(drop=True)


def performance_over_time(settings: Settings, profile: str) -> pd.DataFrame:
    """Figures over everyone (no group) per check: ``started_at``, ``metric``,
    ``model_version``, ``value``, ``n``; empty until outcomes have been recorded."""
    from studentops.monitoring.store import MonitorStore

    with MonitorStore(_url(settings)) as store:
        frame = store.read_metrics(profile)
    if frame.empty:
        return frame
    return frame[frame["group_column"].isna()].reset_index(drop=True)


def checks(settings: Settings, profile: str) -> pd.DataFrame:
    """The checks run, newest first (status, share of drifted features, message, reports)."""
    from studentops.monitoring.store import MonitorStore

    with MonitorStore(_url(settings)) as store:
        frame = store.read_checks(profile)
    return frame.iloc[::-1].reset_index(drop=True)


def alerts(settings: Settings, profile: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(current alerts, alert history) of the profile; empty frames when alerting never ran."""
    from sqlalchemy import inspect, text

    from studentops.monitoring.predlog import make_engine

    engine = make_engine(_url(settings))
    try:
        present = set(inspect(engine).get_table_names())
        out = []
        for table, order in zip(ALERT_TABLES, ("since", "at"), strict=True):
            if table not in present:
                out.append(pd.DataFrame())
                continue
            query = text(f"SELECT * FROM {table} WHERE profile = :p ORDER BY {order} DESC")
            with engine.connect() as conn:
                out.append(pd.read_sql_query(query, conn, params={"p": profile}))
        return out[0], out[1]
    finally:
        engine.dispose()


def predictions_per_day(settings: Settings, profile: str, days: int = 90) -> pd.DataFrame:
    """Logged predictions per day and band over the last ``days`` days: ``day``, ``band``,
    ``predictions``, ``mean_risk_pct`` (percentage)."""
    from sqlalchemy import select

    from studentops.monitoring.predlog import create_table, make_engine, predictions

    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    engine = make_engine(_url(settings))
    try:
        create_table(engine)
        query = select(predictions.c.ts, predictions.c.risk_band, predictions.c.risk_score).where(
            predictions.c.profile == profile, predictions.c.ts >= since
        )
        with engine.connect() as conn:
            frame = pd.read_sql_query(query, conn)
    finally:
        engine.dispose()
    columns = ["day", "band", "predictions", "mean_risk_pct"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    frame["day"] = pd.to_datetime(frame["ts"], utc=True).dt.floor("D")
    frame["band"] = frame["risk_band"].fillna("none")
    grouped = frame.groupby(["day", "band"], as_index=False).agg(
        predictions=("risk_score", "size"), mean_risk_pct=("risk_score", "mean")
    )
    grouped["mean_risk_pct"] = (grouped["mean_risk_pct"] * 100).round(1)
    return grouped[columns]


def report_files(frame: pd.DataFrame) -> list[tuple[str, Path]]:
    """(label, path) of each check's HTML report that exists on this machine, newest first."""
    out: list[tuple[str, Path]] = []
    if frame.empty or "report_html" not in frame.columns:
        return out
    for _, row in frame.iterrows():
        path = row.get("report_html")
        if isinstance(path, str) and path and Path(path).is_file():
            when = pd.Timestamp(row["started_at"]).strftime("%Y-%m-%d %H:%M UTC")
            out.append((f"{when}: {row.get('status', '')}", Path(path)))
    return out
