"""The monitoring tables, in the same database as the prediction log, and their typed API.

Public (other parts may call these; the schema and signatures only ever grow):

- :class:`MonitorStore` ``(url)``: open with the prediction log's URL (``settings.prediction_log``:
  SQLite under ``home`` by default, PostgreSQL by URL). Tables are created on first use.

  - ``write_outcomes(profile, outcomes) -> int`` / ``read_outcomes(profile) -> DataFrame``:
    true outcomes keyed by the pseudonymised student key (never the raw id);
  - ``write_check(result) -> int``: one :class:`~studentops.monitoring.results.CheckResult`
    as a ``monitor_checks`` row, a ``monitor_features`` row per feature (and per prediction /
    target entry) and a ``monitor_metrics`` row per performance figure; returns the check id;
  - ``read_checks``, ``read_features``, ``read_metrics``: the tables as DataFrames (oldest
    first) for plots over time; ``latest_check(profile)`` and ``latest_checks()`` rebuild whole
    :class:`CheckResult` objects (for alerts and ``/metrics``).

- The SQLAlchemy ``Table`` objects (``outcomes``, ``checks``, ``feature_results``,
  ``metric_results``) for anyone who needs a query of their own.

All times are UTC. Times read back are timezone-aware (SQLite stores them naive).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB

from studentops.monitoring.results import CheckResult, FeatureDrift

if TYPE_CHECKING:
    import pandas as pd

metadata = MetaData()
_JSON = JSON().with_variant(JSONB(), "postgresql")

outcomes = Table(
    "outcomes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("profile", String(128), nullable=False, index=True),
    Column("student_key", String(64), nullable=False, index=True),
    Column("outcome", String(256), nullable=False),
    Column("observed_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("source", String(256)),
    Column("groups", _JSON),
)

checks = Table(
    "monitor_checks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", DateTime(timezone=True), nullable=False, index=True),
    Column("profile", String(128), nullable=False, index=True),
    Column("model_name", String(256)),
    Column("model_version", String(64)),
    Column("kind", String(16), nullable=False),
    Column("source", String(512)),
    Column("window_start", DateTime(timezone=True)),
    Column("window_end", DateTime(timezone=True)),
    Column("n_rows", Integer),
    Column("n_reference", Integer),
    Column("status", String(16), nullable=False),
    Column("n_features", Integer),
    Column("n_drifted", Integer),
    Column("drifted_share", Float),
    Column("prediction_drifted", Boolean),
    Column("target_drifted", Boolean),
    Column("message", Text),
    Column("report_html", String(1024)),
    Column("report_json", String(1024)),
    Column("result", _JSON),
)

feature_results = Table(
    "monitor_features",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("check_id", Integer, ForeignKey("monitor_checks.id", ondelete="CASCADE"), index=True),
    Column("feature", String(256), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("statistic", String(64)),
    Column("value", Float),
    Column("threshold", Float),
    Column("drifted", Boolean),
    Column("n", Integer),
    Column("missing_share", Float),
    Column("reference_missing_share", Float),
    Column("missing_drifted", Boolean),
    Column("unseen_share", Float),
    Column("unseen_drifted", Boolean),
    Column("message", Text),
)

metric_results = Table(
    "monitor_metrics",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("check_id", Integer, ForeignKey("monitor_checks.id", ondelete="CASCADE"), index=True),
    Column("metric", String(64), nullable=False),
    Column("model_version", String(64)),
    Column("group_column", String(256)),
    Column("group_value", String(256)),
    Column("value", Float),
    Column("n", Integer),
    Column("window_start", DateTime(timezone=True)),
    Column("window_end", DateTime(timezone=True)),
)


class Outcome(NamedTuple):
    """One true outcome; ``student_key`` is already pseudonymised (see ``monitoring.pseudonym``).

    ``outcome`` is the class label as text (regression: the value as text). ``observed_at`` is
    when the outcome became known (end of term), UTC. ``groups`` holds the student's values of
    the profile's *sensitive* columns only (``{"Gender": "1"}``), for performance per group;
    they are never features and never leave the monitoring tables.
    """

    student_key: str
    outcome: str
    observed_at: dt.datetime
    groups: dict[str, str] | None = None


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _float(value: float) -> float | None:
    import math

    return float(value) if value is not None and math.isfinite(float(value)) else None


def _feature_row(check_id: int, f: FeatureDrift) -> dict[str, Any]:
    return {
        "check_id": check_id,
        "feature": f.feature,
        "kind": f.kind,
        "statistic": f.statistic,
        "value": _float(f.value),
        "threshold": _float(f.threshold),
        "drifted": bool(f.drifted),
        "n": int(f.n),
        "missing_share": _float(f.missing_share),
        "reference_missing_share": _float(f.reference_missing_share),
        "missing_drifted": bool(f.missing_drifted),
        "unseen_share": _float(f.unseen_share),
        "unseen_drifted": bool(f.unseen_drifted),
        "message": f.message,
    }


class MonitorStore:
    """Read and write the monitoring tables. Cheap to create; call :meth:`close` when done.

    Args:
        url: SQLAlchemy URL, normally ``settings.prediction_log``.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine of the store's URL, created on first use (installed driver)."""
        if self._engine is None:
            from studentops.databases import with_installed_driver
            from studentops.monitoring.predlog import make_engine

            self._engine = make_engine(with_installed_driver(self.url))
            create_tables(self._engine)
        return self._engine

    def close(self) -> None:
        """Dispose of the engine (its pooled connections); the store can be used again."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> MonitorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- outcomes ----------------------------------------------------------------------------

    def write_outcomes(
        self, profile: str, rows: Iterable[Outcome], source: str | None = None
    ) -> int:
        """Append outcomes (a later outcome for the same student wins on read).

        Args:
            profile: the dataset profile.
            rows: pseudonymised outcomes (never raw ids: see :mod:`.outcomes`).
            source: the file they came from (its name only).

        Returns:
            The number of rows written.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database refused the write (nothing written).
        """
        now = dt.datetime.now(dt.UTC)
        values = [
            {
                "profile": profile,
                "student_key": r.student_key,
                "outcome": str(r.outcome),
                "observed_at": _utc(r.observed_at),
                "recorded_at": now,
                "source": source,
                "groups": r.groups,
            }
            for r in rows
        ]
        if not values:
            return 0
        with self.engine.begin() as conn:
            conn.execute(insert(outcomes), values)
        return len(values)

    def read_outcomes(self, profile: str) -> pd.DataFrame:
        """The latest outcome per student, ``(n_students, 4)``.

        Columns ``student_key, outcome`` (text), ``observed_at`` (UTC), ``groups`` (a dict of
        sensitive column -> category key, or None).

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database cannot be read.
        """
        import pandas as pd

        query = (
            select(
                outcomes.c.student_key,
                outcomes.c.outcome,
                outcomes.c.observed_at,
                outcomes.c.groups,
            )
            .where(outcomes.c.profile == profile)
            .order_by(outcomes.c.id)
        )
        with self.engine.connect() as conn:
            frame = pd.read_sql_query(query, conn)
        frame = frame.drop_duplicates("student_key", keep="last").reset_index(drop=True)
        frame["observed_at"] = pd.to_datetime(frame["observed_at"], utc=True)
        frame["groups"] = [None if g is None else _loaded(g) for g in frame["groups"]]
        return frame

    # -- checks ------------------------------------------------------------------------------

    def write_check(self, result: CheckResult) -> int:
        """Write one check and its feature and metric rows in one transaction; returns its id.

        Sets ``result.check_id``. One row in ``monitor_checks`` (the whole result as JSON
        too), one per feature (and prediction/target entry) in ``monitor_features``, one per
        metric in ``monitor_metrics``.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database refused the write (nothing written).
        """
        v = result.verdict
        row = {
            "started_at": _utc(result.started_at),
            "profile": result.profile,
            "model_name": result.model_name,
            "model_version": result.model_version,
            "kind": result.kind,
            "source": result.source,
            "window_start": _utc(result.window_start),
            "window_end": _utc(result.window_end),
            "n_rows": result.n_rows,
            "n_reference": result.n_reference,
            "status": v.status,
            "n_features": v.n_features,
            "n_drifted": len(v.drifted_features),
            "drifted_share": _float(v.drifted_share),
            "prediction_drifted": v.prediction_drifted,
            "target_drifted": bool(result.target and result.target.any_drift),
            "message": v.message,
            "report_html": result.report_html,
            "report_json": result.report_json,
            "result": result.to_dict(),
        }
        with self.engine.begin() as conn:
            check_id = int(conn.execute(insert(checks).returning(checks.c.id), row).scalar_one())
            entries = [*result.features, *result.prediction]
            if result.target is not None:
                entries.append(result.target)
            if entries:
                conn.execute(insert(feature_results), [_feature_row(check_id, f) for f in entries])
            if result.metrics:
                conn.execute(
                    insert(metric_results),
                    [
                        {
                            "check_id": check_id,
                            "metric": m.metric,
                            "model_version": m.model_version,
                            "group_column": m.group_column,
                            "group_value": m.group_value,
                            "value": _float(m.value),
                            "n": int(m.n),
                            "window_start": _utc(m.window_start),
                            "window_end": _utc(m.window_end),
                        }
                        for m in result.metrics
                    ],
                )
        result.check_id = check_id
        # The stored JSON should carry its own id too (alerts link to it).
        with self.engine.begin() as conn:
            conn.execute(
                checks.update().where(checks.c.id == check_id).values(result=result.to_dict())
            )
        return check_id

    def read_checks(
        self,
        profile: str | None = None,
        since: dt.datetime | None = None,
        kind: str | None = None,
    ) -> pd.DataFrame:
        """Checks, oldest first; every column of ``monitor_checks`` except ``result``."""
        cols = [c for c in checks.c if c.name != "result"]
        query = select(*cols).order_by(checks.c.id)
        query = _filter(query, profile, since)
        if kind is not None:
            query = query.where(checks.c.kind == kind)
        return self._frame(query, ("started_at", "window_start", "window_end"))

    def read_features(
        self,
        profile: str | None = None,
        since: dt.datetime | None = None,
        feature: str | None = None,
    ) -> pd.DataFrame:
        """Feature rows joined with their check (``started_at``, ``profile``, ``model_version``,
        ``status``), oldest first: one line per feature per check, ready to plot over time."""
        query = (
            select(
                feature_results,
                checks.c.started_at,
                checks.c.profile,
                checks.c.model_version,
                checks.c.status,
            )
            .join(checks, feature_results.c.check_id == checks.c.id)
            .order_by(feature_results.c.id)
        )
        query = _filter(query, profile, since)
        if feature is not None:
            query = query.where(feature_results.c.feature == feature)
        return self._frame(query, ("started_at",))

    def read_metrics(
        self,
        profile: str | None = None,
        since: dt.datetime | None = None,
        metric: str | None = None,
        model_version: str | None = None,
    ) -> pd.DataFrame:
        """Metric rows joined with their check's ``started_at`` and ``profile``, oldest first.

        ``group_column``/``group_value`` are None for the figure over everyone.
        """
        query = (
            select(metric_results, checks.c.started_at, checks.c.profile)
            .join(checks, metric_results.c.check_id == checks.c.id)
            .order_by(metric_results.c.id)
        )
        query = _filter(query, profile, since)
        if metric is not None:
            query = query.where(metric_results.c.metric == metric)
        if model_version is not None:
            query = query.where(metric_results.c.model_version == model_version)
        return self._frame(query, ("started_at", "window_start", "window_end"))

    def latest_check(self, profile: str, kind: str | None = None) -> CheckResult | None:
        """The newest check of a profile as a whole :class:`CheckResult`, or None."""
        query = select(checks.c.result).where(checks.c.profile == profile)
        if kind is not None:
            query = query.where(checks.c.kind == kind)
        query = query.order_by(checks.c.id.desc()).limit(1)
        with self.engine.connect() as conn:
            found = conn.execute(query).scalar()
        return None if found is None else CheckResult.from_dict(_loaded(found))

    def latest_checks(self) -> dict[str, CheckResult]:
        """The newest check of every profile that has one, by profile name."""
        newest = select(func.max(checks.c.id)).group_by(checks.c.profile).scalar_subquery()
        query = select(checks.c.profile, checks.c.result).where(checks.c.id.in_(newest))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return {p: CheckResult.from_dict(_loaded(r)) for p, r in rows}

    def _frame(self, query: Any, times: tuple[str, ...]) -> pd.DataFrame:
        import pandas as pd

        with self.engine.connect() as conn:
            frame = pd.read_sql_query(query, conn)
        for name in times:
            if name in frame.columns:
                frame[name] = pd.to_datetime(frame[name], utc=True)
        for name in _FLOATS:
            if name in frame.columns:
                frame[name] = pd.to_numeric(frame[name]).astype("float64")
        return frame


_FLOATS = {
    c.name
    for table in (checks, feature_results, metric_results)
    for c in table.c
    if isinstance(c.type, Float)
}


def _loaded(value: Any) -> dict[str, Any]:
    if isinstance(value, str | bytes):
        import orjson

        return dict(orjson.loads(value))
    return dict(value)


def _filter(query: Any, profile: str | None, since: dt.datetime | None) -> Any:
    if profile is not None:
        query = query.where(checks.c.profile == profile)
    if since is not None:
        query = query.where(checks.c.started_at >= _utc(since))
    return query


def create_tables(engine: Engine) -> None:
    """Create the monitoring tables if absent; workers racing to create them is not an error.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: still failing after 3 attempts 0.2 s apart.
    """
    from studentops.databases import create_all_with_retry

    create_all_with_retry(metadata, engine)
