"""A retraining decision, and the three places it is written: the monitoring store
(``retrain_decisions``), MLflow tags on both model versions, and an alert message."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, DateTime, Float, Integer, MetaData, String, Table, Text, insert

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from studentops.monitoring.alerts.message import AlertMessage

TAG = "studentops.retrain"

metadata = MetaData()

retrain_decisions = Table(
    "retrain_decisions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("profile", String(128), nullable=False, index=True),
    Column("trigger", Text, nullable=False),
    Column("window", Text),
    Column("train_rows", Integer),
    Column("eval_rows", Integer),
    Column("metric", String(64)),
    Column("champion_version", String(32)),
    Column("challenger_version", String(32)),
    Column("champion_score", Float),
    Column("challenger_score", Float),
    Column("gates", Text),  # JSON list of {name, passed, detail}
    Column("outcome", String(32), nullable=False),
    Column("reason", Text),
)


@dataclass(frozen=True)
class RetrainDecision:
    """What one retraining decided and why.

    Scores are the selection ``metric`` of each model on the same ``eval_rows`` recent
    labelled students (neither model trained on them). ``outcome`` is ``promoted`` or
    ``kept``.
    """

    id: str
    at: datetime
    profile: str
    trigger: str
    window: str
    train_rows: int
    eval_rows: int
    metric: str
    champion_version: str | None
    challenger_version: str
    champion_score: float | None
    challenger_score: float
    gates: list[dict[str, Any]]
    outcome: str
    reason: str
    champion_metrics: dict[str, float] = field(default_factory=dict)
    challenger_metrics: dict[str, float] = field(default_factory=dict)

    @property
    def promoted(self) -> bool:
        """Whether the challenger became champion."""
        return self.outcome == "promoted"

    def as_dict(self) -> dict[str, Any]:
        """The decision as plain values (``at`` as ISO 8601 text), as ``retrain --json`` prints
        it."""
        out = asdict(self)
        out["at"] = self.at.isoformat()
        return out

    def tag_value(self, role: str) -> str:
        """Compact JSON for one version's tag (MLflow caps tag values at 5,000 characters)."""
        short = {
            "role": role,
            "at": self.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "trigger": self.trigger[:300],
            "window": self.window,
            "train_rows": self.train_rows,
            "eval_rows": self.eval_rows,
            "metric": self.metric,
            "champion": self.champion_version,
            "challenger": self.challenger_version,
            "champion_score": self.champion_score,
            "challenger_score": self.challenger_score,
            "gates": [{k: g[k] for k in ("name", "passed")} for g in self.gates],
            "outcome": self.outcome,
            "reason": self.reason[:1500],
        }
        return json.dumps(short)[:5000]

    def message(self, report_url: str | None = None) -> AlertMessage:
        """The announcement: outcome, both scores, gates, window."""
        from studentops.monitoring.alerts.message import AlertMessage

        if self.promoted:
            title = f"Retraining: challenger v{self.challenger_version} promoted to champion"
        else:
            kept = f"v{self.champion_version}" if self.champion_version else "no champion"
            title = (
                f"Retraining: champion {kept} kept, "
                f"challenger v{self.challenger_version} not promoted"
            )
        theirs = "n/a" if self.champion_score is None else f"{self.champion_score:.4f}"
        amount = (
            f"{self.metric} challenger {self.challenger_score:.4f} vs champion {theirs} "
            f"on {self.eval_rows} recent labelled students"
        )
        details = (
            f"trigger: {self.trigger}",
            f"data window: {self.window}; challenger trained on {self.train_rows} rows",
            *(f"{g['name']} gate {'passed' if g['passed'] else 'FAILED'}: {g['detail']}"
              for g in self.gates),
            f"decision: {self.reason}",
        )  # fmt: skip
        return AlertMessage(
            title=title,
            profile=self.profile,
            severity="info" if self.promoted else "warning",
            state="info",
            since=self.at,
            amount=amount,
            report_url=report_url,
            details=details,
            rule="retrain",
        )


def store_decision(url: str, decision: RetrainDecision) -> None:
    """Append the decision to ``retrain_decisions`` in the monitoring database."""
    from studentops.monitoring.alerts.store import open_engine

    engine = open_engine(url)
    try:
        metadata.create_all(engine, checkfirst=True)
        with engine.begin() as conn:
            conn.execute(
                insert(retrain_decisions).values(
                    id=decision.id,
                    at=decision.at,
                    profile=decision.profile,
                    trigger=decision.trigger,
                    window=decision.window,
                    train_rows=decision.train_rows,
                    eval_rows=decision.eval_rows,
                    metric=decision.metric,
                    champion_version=decision.champion_version,
                    challenger_version=decision.challenger_version,
                    champion_score=decision.champion_score,
                    challenger_score=decision.challenger_score,
                    gates=json.dumps(decision.gates),
                    outcome=decision.outcome,
                    reason=decision.reason,
                )
            )
    finally:
        engine.dispose()


def read_decisions(url: str, profile: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """Latest decisions first, as dicts (``gates`` decoded)."""
    from sqlalchemy import select

    from studentops.monitoring.alerts.store import open_engine

    engine = open_engine(url)
    try:
        metadata.create_all(engine, checkfirst=True)
        query = select(retrain_decisions).order_by(retrain_decisions.c.at.desc()).limit(limit)
        if profile is not None:
            query = query.where(retrain_decisions.c.profile == profile)
        with engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
    finally:
        engine.dispose()
    for row in rows:
        row["gates"] = json.loads(row["gates"] or "[]")
        if row["at"].tzinfo is None:
            row["at"] = row["at"].replace(tzinfo=UTC)
    return rows


def tag_versions(client: MlflowClient, model_name: str, decision: RetrainDecision) -> None:
    """Tag both versions: ``studentops.retrain.<id>`` (the decision as JSON) and
    ``studentops.retrain.last`` / ``.outcome`` (the latest decision that involved them)."""
    roles = [(decision.challenger_version, "challenger")]
    if decision.champion_version:
        roles.append((decision.champion_version, "champion"))
    for version, role in roles:
        client.set_model_version_tag(
            model_name, version, f"{TAG}.{decision.id}", decision.tag_value(role)
        )
        client.set_model_version_tag(model_name, version, f"{TAG}.last", decision.id)
        client.set_model_version_tag(model_name, version, f"{TAG}.outcome", decision.outcome)
