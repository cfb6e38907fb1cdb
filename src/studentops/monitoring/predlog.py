"""The prediction log: every prediction appended off the hot path, pseudonymised.

Callers hand rows to :meth:`PredictionLog.submit`, which only appends to a bounded in-memory
buffer and returns at once. A background thread drains it in batches into one SQL table
(SQLite under ``home`` by default, PostgreSQL or any SQLAlchemy URL otherwise). When the buffer
is full, or the database refuses a batch, the rows are counted as dropped rather than slowing
a request down: serving students beats logging them. The student id is replaced by a keyed
hash in the writer thread; the raw id never reaches the database.

The drift, performance and retraining parts read the table with :func:`read_predictions`.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from pydantic import SecretStr
from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB

from studentops.json_values import dump_json
from studentops.monitoring.pseudonym import Pseudonymiser

log = logging.getLogger(__name__)

TABLE = "predictions"
metadata = MetaData()
predictions = Table(
    TABLE,
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", DateTime(timezone=True), nullable=False, index=True),
    Column("student_key", String(64), index=True),
    Column("profile", String(128)),
    Column("model_name", String(256)),
    Column("model_version", String(64), index=True),
    Column("source", String(16)),
    Column("features", JSON().with_variant(JSONB(), "postgresql")),
    Column("prediction", String(256)),
    Column("risk_score", Float),
    Column("risk_band", String(16)),
    Column("output", JSON().with_variant(JSONB(), "postgresql")),
    Column("latency_ms", Float),
)


class LogRow(NamedTuple):
    """One prediction as the caller knows it; ``student_id`` is raw and hashed by the writer.

    ``features`` and ``output`` may be given already serialised as JSON text (batch scoring
    serialises whole columns at once, far faster than row by row). A NamedTuple because a
    batch of 100,000 is built on the caller's thread: it is three times cheaper to make than
    a frozen dataclass.
    """

    ts: float
    student_id: Any
    features: dict[str, Any] | str
    prediction: Any
    risk_score: float
    risk_band: str
    output: dict[str, Any] | str
    model_name: str
    model_version: str
    latency_ms: float
    profile: str = ""
    source: str = "api"


def _already_keyed(student_key: Any) -> Any:
    return student_key


def _dumps(value: Any) -> str:
    if isinstance(value, str):
        return value
    return dump_json(value).decode()


def make_engine(url: str) -> Engine:
    """An engine tuned for appends: WAL and a busy timeout so several workers share SQLite.

    Raises:
        sqlalchemy.exc.ArgumentError: a URL SQLAlchemy cannot parse.
        ModuleNotFoundError: the URL's driver is not installed.
    """
    engine = create_engine(url, json_serializer=_dumps, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

    return engine


def create_table(engine: Engine) -> None:
    """Create the table if absent; two workers racing to create it is not an error.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: still failing after 3 attempts 0.2 s apart.
    """
    from studentops.databases import create_all_with_retry

    create_all_with_retry(metadata, engine)


class PredictionLog:
    """Bounded, non-blocking prediction log with one background writer thread.

    Args:
        url: SQLAlchemy URL (settings.prediction_log).
        key: secret for the keyed hash of student ids (settings.pseudonym_key); None when the
            rows' ids are keys already (the child of :mod:`.logwriter`).
        queue_size: most rows held in memory; more are dropped and counted.
        on_drop: called with (reason, count) when rows are dropped (wired to a metric).
        batch_size: rows per INSERT.
        flush_interval_s: longest a row waits before it is written.
    """

    def __init__(
        self,
        url: str,
        key: SecretStr | str | None,
        queue_size: int = 100_000,
        on_drop: Callable[[str, int], None] | None = None,
        batch_size: int = 2_000,
        flush_interval_s: float = 0.5,
    ) -> None:
        self.url = url
        self.queue_size = max(1, queue_size)
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self._pseudonym: Callable[[Any], Any] = (
            Pseudonymiser(key) if key is not None else _already_keyed
        )
        self._on_drop = on_drop
        self._buf: deque[LogRow] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._drain = False  # set by flush/close: write everything, even a partial batch
        self._idle = threading.Event()
        self._idle.set()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._engine: Engine | None = None
        self.dropped: dict[str, int] = {"queue_full": 0, "write_error": 0}
        self.written = 0

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> PredictionLog:
        """Open the database, create the table and start the writer thread."""
        if self._thread is not None:
            return self
        self._engine = make_engine(self.url)
        create_table(self._engine)
        self._insert_sql = insert_sql(self._engine)
        self._start_writer()
        return self

    def _start_writer(self) -> None:
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Write what is buffered (up to ``timeout``), then stop the writer."""
        if self._thread is None:
            return
        self._stop_writer(timeout)
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def _stop_writer(self, timeout: float) -> None:
        """Flush, then let the writer thread finish what it has and end."""
        self.flush(timeout)
        self._stop = True
        self._drain = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None

    def __enter__(self) -> PredictionLog:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- hot path --------------------------------------------------------------------------

    def submit(self, rows: Iterable[LogRow]) -> int:
        """Buffer rows without blocking; returns how many were kept.

        Rows beyond ``queue_size`` are dropped and counted (``dropped["queue_full"]`` and
        ``on_drop``), never raised: serving a student beats logging it.
        """
        rows = list(rows)
        with self._lock:
            space = self.queue_size - len(self._buf)
            kept = rows if len(rows) <= space else rows[: max(space, 0)]
            self._buf.extend(kept)
            if kept:
                self._idle.clear()
        lost = len(rows) - len(kept)
        if lost:
            self._drop("queue_full", lost)
        if len(self._buf) >= self.batch_size:
            self._wake.set()
        return len(kept)

    @property
    def pending(self) -> int:
        """Rows buffered and not yet written."""
        return len(self._buf)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything buffered so far is written (tests, end of a batch run)."""
        if self._thread is None:
            return not self._buf
        self._drain = True
        self._wake.set()
        return self._idle.wait(timeout)

    # -- writer thread ---------------------------------------------------------------------

    def _drop(self, reason: str, count: int) -> None:
        self.dropped[reason] += count
        if self._on_drop is not None:
            self._on_drop(reason, count)

    def _take(self, full_only: bool) -> list[LogRow]:
        with self._lock:
            if full_only and len(self._buf) < self.batch_size:
                return []
            n = min(self.batch_size, len(self._buf))
            return [self._buf.popleft() for _ in range(n)]

    def _run(self) -> None:
        """Write what is buffered on each wake-up (a full batch, the interval, or a flush).

        After the first batch of a wake-up only full batches are written, unless a flush asked
        to drain: under steady load, rows that trickle in while a batch is written would
        otherwise go out a few at a time, one commit each (measured: 70 us of CPU a row
        instead of 17).
        """
        while True:
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            first = True
            while True:
                drain = self._drain
                batch = self._take(full_only=not (first or drain))
                first = False
                if not batch:
                    if drain:
                        self._drain = False
                    break
                self._write(batch)
            with self._lock:
                if not self._buf:
                    self._idle.set()
            if self._stop:
                return

    def _write(self, batch: list[LogRow]) -> None:
        """Insert one batch through the DBAPI driver directly.

        SQLAlchemy's per-row type processing cost about 80 us a row (8 s per 100,000); the
        driver's executemany with JSON serialised by orjson costs a few microseconds.
        """
        assert self._engine is not None
        pseudo = self._pseudonym
        convert = _timestamp_converter(self._engine.dialect.name)
        stamps: dict[float, Any] = {}  # a batch run stamps every row alike: convert once

        def stamp(ts: float) -> Any:
            found = stamps.get(ts)
            if found is None:
                found = stamps[ts] = convert(ts)
            return found

        values = [
            (
                stamp(r.ts),
                pseudo(r.student_id),
                r.profile,
                r.model_name,
                r.model_version,
                r.source,
                _dumps(r.features),
                None if r.prediction is None else str(r.prediction),
                _float_or_none(r.risk_score),
                r.risk_band,
                _dumps(r.output),
                _float_or_none(r.latency_ms),
            )
            for r in batch
        ]
        try:
            raw = self._engine.raw_connection()
            try:
                cursor = raw.cursor()
                cursor.executemany(self._insert_sql, values)
                cursor.close()
                raw.commit()
            finally:
                raw.close()
            self.written += len(values)
        except Exception as exc:  # any driver error: count the rows as lost, keep serving
            log.warning("prediction log: %d rows lost (%s)", len(values), str(exc).splitlines()[0])
            self._drop("write_error", len(values))


INSERT_COLUMNS = (
    "ts",
    "student_key",
    "profile",
    "model_name",
    "model_version",
    "source",
    "features",
    "prediction",
    "risk_score",
    "risk_band",
    "output",
    "latency_ms",
)
_JSON_COLUMNS = ("features", "output")


def insert_sql(engine: Engine) -> str:
    """A plain INSERT in the driver's parameter style (JSON cast explicitly on PostgreSQL)."""
    style = engine.dialect.paramstyle
    marks = []
    for i, name in enumerate(INSERT_COLUMNS):
        mark = {"qmark": "?", "numeric": f":{i + 1}", "named": f":{name}"}.get(style, "%s")
        if engine.dialect.name == "postgresql" and name in _JSON_COLUMNS:
            mark += "::jsonb"
        marks.append(mark)
    return f"INSERT INTO {TABLE} ({', '.join(INSERT_COLUMNS)}) VALUES ({', '.join(marks)})"


def _timestamp_converter(dialect: str) -> Callable[[float], Any]:
    if dialect == "sqlite":
        # The text form SQLAlchemy's SQLite DateTime reads back (UTC).
        return lambda ts: dt.datetime.fromtimestamp(ts, dt.UTC).replace(tzinfo=None).isoformat(" ")
    return lambda ts: dt.datetime.fromtimestamp(ts, dt.UTC)


def _float_or_none(value: Any) -> float | None:
    if value is None:
        return None
    out = float(value)
    return out if math.isfinite(out) else None


def read_predictions(url: str, since: dt.datetime | None = None, limit: int | None = None) -> Any:
    """Logged predictions as a DataFrame (oldest first), for retraining and small reads.

    Returns ``(n_rows, 13)``: the table's columns, ``features`` and ``output`` as dicts. Checks
    over many rows read the columnar layout instead (:mod:`.columnar`).

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database cannot be read.
    """
    import pandas as pd

    engine = make_engine(url)
    try:
        create_table(engine)
        query = select(predictions).order_by(predictions.c.id)
        if since is not None:
            query = query.where(predictions.c.ts >= since)
        if limit is not None:
            query = query.limit(limit)
        with engine.connect() as conn:
            return pd.read_sql_query(query, conn)
    finally:
        engine.dispose()
