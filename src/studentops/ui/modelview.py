"""What the Models page shows and does: versions, held-out reports, promote and rollback.

Reports are the JSON files training writes for every run (``reports/`` artifacts: metrics,
confusion matrix, ROC, precision-recall and calibration curves, global importance, fairness;
see ``training/evaluate.py`` and ``training/train.py``); they are read back from MLflow, so
the page shows exactly what the run logged. Promote and rollback call the registry's own
:func:`~studentops.registry.models.promote` and :func:`~studentops.registry.models.rollback`
(the gates of ``studentops promote``, never ``--force``), after an admin-key check.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from studentops.config import Settings
from studentops.ui.access import require_admin

if TYPE_CHECKING:
    from studentops.registry.models import PromotionDecision, RollbackResult, VersionSummary

REPORT_FILES = (
    "metrics",
    "confusion_matrix",
    "roc_curve",
    "pr_curve",
    "calibration",
    "importance",
    "fairness",
)


@dataclass
class Reports:
    """The held-out reports of one training run (each None when the run did not log it)."""

    run_id: str | None
    data: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str) -> Any:
        """One report by name (``roc_curve``, ``fairness``...), or None when not logged."""
        return self.data.get(name)


def versions(settings: Settings, profile: str) -> list[VersionSummary]:
    """The profile's registered versions, newest first (a registry read)."""
    from studentops.registry.models import list_versions
    from studentops.tracking import client_for

    return list_versions(client_for(settings), profile)


def versions_table(items: list[VersionSummary]) -> pd.DataFrame:
    """One row per version: aliases, when, algorithm, selection metric and score, fairness gap."""
    rows = []
    for v in items:
        rows.append(
            {
                "version": int(v.version),
                "aliases": " ".join(f"@{a}" for a in v.aliases),
                "created (UTC)": v.created.strftime("%Y-%m-%d %H:%M"),
                "algorithm": v.algorithm or "",
                "metric": v.metric or "",
                "held-out score": v.score,
                "fairness gap": v.fairness_gap,
            }
        )
    columns = [
        "version",
        "aliases",
        "created (UTC)",
        "algorithm",
        "metric",
        "held-out score",
        "fairness gap",
    ]
    return pd.DataFrame(rows, columns=columns)


def load_reports(settings: Settings, run_id: str | None) -> Reports:
    """The run's ``reports/*.json`` (and ``fairness.json``), cached under home by run id."""
    if not run_id:
        return Reports(run_id=None)
    from mlflow.exceptions import MlflowException

    from studentops.tracking import client_for

    cache = settings.home / "dashboard" / "reports" / run_id
    if not (cache / ".complete").is_file():
        client = client_for(settings)
        cache.mkdir(parents=True, exist_ok=True)
        # An older run without reports: the page says "not logged".
        with contextlib.suppress(MlflowException, OSError):
            client.download_artifacts(run_id, "reports", str(cache))
        (cache / ".complete").touch()
    data: dict[str, Any] = {}
    folder = cache / "reports"
    for name in REPORT_FILES:
        path = folder / f"{name}.json"
        if path.is_file():
            data[name] = json.loads(path.read_text(encoding="utf-8"))
    return Reports(run_id=run_id, data=data)


def metrics_table(metrics: dict[str, float], selection: str | None) -> pd.DataFrame:
    """Held-out metrics as rows, the selection metric first."""
    names = sorted(metrics, key=lambda m: (m != selection, m))
    return pd.DataFrame(
        {
            "metric": names,
            "value": [metrics[m] for m in names],
            "used for selection": [m == selection for m in names],
        }
    )


def confusion_frame(report: dict[str, Any]) -> pd.DataFrame:
    """Long form of ``confusion_matrix.json``: ``true``, ``predicted``, ``students``."""
    labels = [str(x) for x in report["labels"]]
    rows = [
        {"true": labels[i], "predicted": labels[j], "students": int(n)}
        for i, row in enumerate(report["matrix"])
        for j, n in enumerate(row)
    ]
    return pd.DataFrame(rows)


def curve_frame(report: dict[str, Any], x: str, y: str) -> pd.DataFrame:
    """Long form of a curve file (``{class: {x: [...], y: [...]}}``): ``class``, x, y."""
    parts = [
        pd.DataFrame({"class": str(name), x: curve[x], y: curve[y]})
        for name, curve in report.items()
    ]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["class", x, y])


def importance_frame(report: dict[str, Any], top: int = 15) -> pd.DataFrame:
    """Global importance in percentage points of risk (mean absolute change), largest first."""
    from studentops.ui.risklist import in_points

    units = str(report.get("units", "risk"))
    scale = 100.0 if units == "risk" else 1.0  # "risk": a probability, before units were named
    if not in_points(units):
        scale = 1.0
    items = list(report.get("importance", {}).items())[:top]
    return pd.DataFrame(
        {"feature": [k for k, _ in items], "points": [round(v * scale, 3) for _, v in items]}
    )


def fairness_frame(report: dict[str, Any]) -> pd.DataFrame:
    """One row per (sensitive attribute, group) with its metrics, students and the gaps."""
    rows = []
    for attribute, body in (report.get("attributes") or {}).items():
        for group, metrics in (body.get("groups") or {}).items():
            row = {"attribute": attribute, "group": group}
            row.update({k: v for k, v in metrics.items()})
            row["students"] = int(row.pop("count", 0))
            row["too small for gaps"] = group in (body.get("small_groups") or [])
            rows.append(row)
    return pd.DataFrame(rows)


def promote_version(
    settings: Settings, profile: str, admin_key: str | None, version: str | None = None
) -> PromotionDecision:
    """Promote the challenger (or ``version``) through the CLI's gates; needs an admin key.

    Raises:
        AuthError: no admin key configured, none given, or a wrong one.
        ModelError: no challenger, or the version is already champion.
    """
    from studentops.registry.models import promote
    from studentops.tracking import client_for

    require_admin(settings, admin_key)
    return promote(
        client_for(settings),
        profile,
        margin=settings.promote_margin,
        max_gap=settings.fairness_max_gap,
        version=version,
    )


def rollback_champion(settings: Settings, profile: str, admin_key: str | None) -> RollbackResult:
    """Give @champion back to the previous champion; needs an admin key (AuthError)."""
    from studentops.registry.models import rollback
    from studentops.tracking import client_for

    require_admin(settings, admin_key)
    return rollback(client_for(settings), profile)
