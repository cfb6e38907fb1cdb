"""Prefect artifacts a person reads in the UI: the risk list, the training and monitoring summaries.

Student ids never reach Prefect's database: the risk list shows the same keyed pseudonym as the
prediction log (:mod:`studentops.monitoring.pseudonym`), so a counselor matches it in the
output file while the orchestration store holds no raw id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studentops.config import Settings

SHOWN_COLUMNS = ("rank", "risk_score", "risk_band", "prediction")


def artifact_key(*parts: str) -> str:
    """Prefect keys allow lowercase letters, digits and dashes only."""
    text = "-".join(parts).lower()
    return "".join(c if c.isalnum() else "-" for c in text).strip("-")


def risk_list_rows(
    path: Path, n: int, id_columns: list[str], settings: Settings
) -> list[dict[str, Any]]:
    """The first ``n`` rows of a ranked risk list (CSV or Parquet), the first id column found
    in ``id_columns`` pseudonymised as ``student``."""
    import pandas as pd

    from studentops.monitoring.pseudonym import Pseudonymiser

    if path.suffix.lower() in (".parquet", ".pq"):
        frame = pd.read_parquet(path).head(n)
    else:
        frame = pd.read_csv(path, nrows=n)
    key = Pseudonymiser(settings.pseudonym_key)
    id_column = next((c for c in id_columns if c in frame.columns), None)
    rows = []
    for record in frame.to_dict("records"):
        row: dict[str, Any] = {}
        if id_column is not None:
            row["student"] = key(record[id_column])
        for name in SHOWN_COLUMNS:
            if name in record:
                value = record[name]
                row[name] = round(value, 4) if isinstance(value, float) else value
        rows.append(row)
    return rows


def publish_risk_list(report: dict[str, Any], predictor: Any, settings: Settings, top: int) -> None:
    """A table artifact of the ``top`` students at highest risk, keyed per profile."""
    from prefect.artifacts import create_table_artifact

    if report["accepted"] == 0 or top <= 0:
        return
    id_columns = [c for c in ("student_id", predictor.profile.id) if c]
    rows = risk_list_rows(Path(report["out_path"]), top, id_columns, settings)
    create_table_artifact(
        rows,
        key=artifact_key("risk-list", report["profile"]),
        description=(
            f"Top {len(rows)} of {report['accepted']:,} students by risk, model "
            f"{report['model']} v{report['model_version']}; full list: {report['out_path']}"
        ),
    )


def _publish_markdown(lines: list[str], kind: str, profile: str, description: str) -> None:
    """One markdown artifact from ``lines``, keyed ``<kind>-<profile>`` (newest replaces)."""
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(
        "\n".join(lines), key=artifact_key(kind, profile), description=description
    )


def metric_text(value: float | None, reason: str | None = None) -> str:
    """A metric for a person: 4 decimals, or "undefined" (with ``reason``) for NaN / None, as
    ``studentops train`` prints it (a held-out part without an at-risk class has no recall)."""
    if value is None or value != value:
        return f"undefined ({reason})" if reason else "undefined"
    return f"{value:.4f}"


def training_markdown(report: dict[str, Any]) -> str:
    """The training artifact's text: the version, CV score, held-out metrics and gates.

    ``report`` as :func:`studentops.flows.definitions.train` returns it (``test_metrics`` a
    dict of floats, NaN where undefined; ``undefined_reason`` optional).
    """
    why = report.get("undefined_reason")
    lines = [
        f"# {report['model']} v{report['version']}",
        "",
        f"CV {report['metric']}: {metric_text(report['cv_score'])}; aliases: "
        f"{', '.join('@' + a for a in report['aliases']) or '-'}",
        "",
        "| held-out metric | value |",
        "|---|---|",
        *(f"| {k} | {metric_text(v, why)} |" for k, v in sorted(report["test_metrics"].items())),
    ]
    if report["gates"]:
        lines += ["", "| gate | passed | detail |", "|---|---|---|"]
        lines += [f"| {g['gate']} | {g['passed']} | {g['detail']} |" for g in report["gates"]]
    return "\n".join(lines)


def publish_training(report: dict[str, Any]) -> None:
    """A markdown artifact: the version trained, its scores and the promotion gates
    (:func:`training_markdown`)."""
    _publish_markdown(
        training_markdown(report).splitlines(),
        "training",
        report["profile"],
        f"training of {report['profile']}",
    )


def publish_monitoring(report: dict[str, Any], verdict_message: str) -> None:
    """A markdown artifact: the verdict, the drifted features, the alerts and the report."""
    drifted = report["drifted_features"]
    lines = [
        f"# {report['profile']} v{report['model_version']}: {report['status'].replace('_', ' ')}",
        "",
        f"{report['n_rows']:,} rows; drifted share {report['drifted_share']:.2f}",
        "",
        verdict_message or "",
        "",
        f"Drifted features: {', '.join(drifted) if drifted else 'none'}",
        "",
        "| alert | rule | subject |",
        "|---|---|---|",
        *(f"| {a['event']} | {a['rule']} | {a['subject'] or '-'} |" for a in report["alerts"]),
        "",
        f"Report: {report['report_html'] or 'not written'}",
    ]
    _publish_markdown(
        lines, "monitoring", report["profile"], f"monitoring check of {report['profile']}"
    )


def publish_retraining(report: dict[str, Any]) -> None:
    """A markdown artifact: the retraining decision, both scores and the gates."""

    def score(value: float | None) -> str:
        return "-" if value is None else metric_text(value)

    lines = [
        f"# {report['profile']}: challenger v{report['challenger_version']} {report['outcome']}",
        "",
        f"Trigger: {report['trigger']}",
        f"Window: {report['window']}; {report['train_rows']:,} rows to train, "
        f"{report['eval_rows']:,} to evaluate",
        "",
        f"| model | {report['metric']} |",
        "|---|---|",
        f"| champion v{report['champion_version']} | {score(report['champion_score'])} |",
        f"| challenger v{report['challenger_version']} | {score(report['challenger_score'])} |",
        "",
        f"Reason: {report['reason']}",
    ]
    _publish_markdown(
        lines, "retraining", report["profile"], f"retraining decision for {report['profile']}"
    )
