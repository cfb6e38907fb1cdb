"""The alert store: each alert's state (firing or resolved) and its history, in the monitoring
database (the prediction log's SQLAlchemy URL: SQLite by default, PostgreSQL by URL).

An alert is one (profile, rule, subject): the rule ``feature-drift`` on the feature
``Absences`` is one alert, on ``Age`` another. ``alert_state`` holds its current state and
when it was last sent (for the cooldown); ``alert_history`` keeps every event (fired, repeated,
resolved, delivered, delivery failed) for audits and the dashboard.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    insert,
    select,
    update,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

metadata = MetaData()

alert_state = Table(
    "alert_state",
    metadata,
    Column("profile", String(128), primary_key=True),
    Column("rule", String(128), primary_key=True),
    Column("subject", String(256), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("since", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("last_sent", DateTime(timezone=True)),
    Column("resolved_at", DateTime(timezone=True)),
    Column("value", Float),
    Column("threshold", Float),
    Column("title", Text),
)

alert_history = Table(
    "alert_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("profile", String(128), nullable=False),
    Column("rule", String(128), nullable=False),
    Column("subject", String(256), nullable=False),
    Column("event", String(32), nullable=False),
    Column("severity", String(16)),
    Column("value", Float),
    Column("detail", Text),
)

alert_counters = Table(
    "alert_counters",
    metadata,
    Column("profile", String(128), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("value", Float, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class AlertState:
    """One alert's state per (profile, rule, subject): ``firing`` or ``resolved``, since when,
    last seen and last sent (UTC), and the value and threshold of its last evaluation."""

    profile: str
    rule: str
    subject: str
    state: str
    severity: str
    since: datetime
    last_seen: datetime
    last_sent: datetime | None
    resolved_at: datetime | None
    value: float | None
    threshold: float | None
    title: str | None


def _utc(moment: datetime | None) -> datetime | None:
    """SQLite gives back naive datetimes; everything here is UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def open_engine(url: str) -> Engine:
    """The monitoring database's engine; a SQLite file's folder is created first."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from studentops.monitoring.predlog import make_engine

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)
    return make_engine(url)


class AlertStore:
    """Read and write alert state and history.

    Args:
        url: SQLAlchemy URL of the monitoring database (tables created if absent).
    """

    def __init__(self, url: str) -> None:
        self.engine: Engine = open_engine(url)
        metadata.create_all(self.engine, checkfirst=True)

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def get(self, profile: str, rule: str, subject: str) -> AlertState | None:
        """The state of one (profile, rule, subject), or None when it never fired."""
        query = select(alert_state).where(
            and_(
                alert_state.c.profile == profile,
                alert_state.c.rule == rule,
                alert_state.c.subject == subject,
            )
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else _state(row)

    def states(self, profile: str | None = None, state: str | None = None) -> list[AlertState]:
        """Every alert state, oldest first, optionally of one profile and in one state."""
        query = select(alert_state).order_by(alert_state.c.since)
        if profile is not None:
            query = query.where(alert_state.c.profile == profile)
        if state is not None:
            query = query.where(alert_state.c.state == state)
        with self.engine.connect() as conn:
            return [_state(r) for r in conn.execute(query).mappings()]

    def put(self, new: AlertState) -> None:
        """Insert or replace one alert's state."""
        values = {c.name: getattr(new, c.name) for c in alert_state.columns}
        key = and_(
            alert_state.c.profile == new.profile,
            alert_state.c.rule == new.rule,
            alert_state.c.subject == new.subject,
        )
        with self.engine.begin() as conn:
            changed = conn.execute(update(alert_state).where(key).values(**values)).rowcount
            if not changed:
                conn.execute(insert(alert_state).values(**values))

    def counter(self, profile: str, name: str) -> float | None:
        """The last value seen of a cumulative counter (None: never seen)."""
        query = select(alert_counters.c.value).where(
            and_(alert_counters.c.profile == profile, alert_counters.c.name == name)
        )
        with self.engine.connect() as conn:
            return conn.execute(query).scalar()

    def set_counter(self, profile: str, name: str, value: float, at: datetime) -> None:
        """Remember the last value seen of a cumulative counter (``at``: when, UTC)."""
        key = and_(alert_counters.c.profile == profile, alert_counters.c.name == name)
        with self.engine.begin() as conn:
            done = conn.execute(update(alert_counters).where(key).values(value=value, at=at))
            if not done.rowcount:
                conn.execute(
                    insert(alert_counters).values(profile=profile, name=name, value=value, at=at)
                )

    def record(
        self,
        profile: str,
        rule: str,
        subject: str,
        event: str,
        *,
        severity: str | None = None,
        value: float | None = None,
        detail: Any = None,
        at: datetime | None = None,
    ) -> None:
        """Append one event to the history (``detail``: text or JSON-able)."""
        text = detail if detail is None or isinstance(detail, str) else json.dumps(detail)
        with self.engine.begin() as conn:
            conn.execute(
                insert(alert_history).values(
                    at=at or datetime.now(UTC),
                    profile=profile,
                    rule=rule,
                    subject=subject,
                    event=event,
                    severity=severity,
                    value=value,
                    detail=text,
                )
            )

    def history(
        self, profile: str | None = None, rule: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Latest events first."""
        query = select(alert_history).order_by(alert_history.c.id.desc()).limit(limit)
        if profile is not None:
            query = query.where(alert_history.c.profile == profile)
        if rule is not None:
            query = query.where(alert_history.c.rule == rule)
        with self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
        for row in rows:
            row["at"] = _utc(row["at"])
        return rows


def _state(row: Any) -> AlertState:
    return AlertState(
        profile=row["profile"],
        rule=row["rule"],
        subject=row["subject"],
        state=row["state"],
        severity=row["severity"],
        since=_utc(row["since"]) or datetime.now(UTC),
        last_seen=_utc(row["last_seen"]) or datetime.now(UTC),
        last_sent=_utc(row["last_sent"]),
        resolved_at=_utc(row["resolved_at"]),
        value=row["value"],
        threshold=row["threshold"],
        title=row["title"],
    )
