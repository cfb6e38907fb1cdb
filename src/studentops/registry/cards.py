"""Model cards: written for every version at registration, read back by the CLI and dashboard.

:func:`log_model_card` is the one call registration makes: it builds the card from the
training result (no student rows: counts, rates, bins and the fairness table), renders it as
Markdown and as a self-contained HTML page (inline CSS, no scripts, no external links: it
opens offline and can be mailed), and logs both with the card's data (``card.json``) to the
version's MLflow run under ``model_card/``. :func:`model_card` fetches a version's card as
Markdown, HTML or data.
"""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from studentops.config import Settings, load_settings
from studentops.errors import ModelError
from studentops.json_values import to_json_safe
from studentops.registry.card_content import Block, card_blocks
from studentops.tracking import LoggedTraining

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from studentops.registry.models import VersionSummary


class TrainResult(LoggedTraining, Protocol):
    """What a card reads of a training run: :class:`studentops.training.result.TrainResult`'s
    logged fields plus its importance and held-out card facts. A protocol, so that the registry
    (a store) does not import training, the layer above it (docs/architecture.md)."""

    @property
    def importance(self) -> Mapping[str, Any]:
        """Raw feature -> global importance, and how it was computed."""
        ...

    @property
    def card_facts(self) -> Mapping[str, Any]:
        """Held-out facts for the card: counts, curves, intervals (no student rows)."""
        ...


CARD_DIR = "model_card"
FILES = {"markdown": "model_card.md", "html": "model_card.html", "json": "card.json"}
CARD_TAG = "studentops.model_card"


def build_card(
    result: TrainResult,
    version: VersionSummary,
    *,
    validation: dict[str, Any],
    settings: Settings,
) -> dict[str, Any]:
    """The card's data: plain JSON values, from the training result and the registry.

    Args:
        result: what training produced (``card_facts``, ``fairness``, ``importance``...).
        version: the registered version.
        validation: the validation summary (``rows``, ``accepted``, ``rejected``, ``data``).
        settings: for the allowed fairness gap, the risk bands and the retention period.
    """
    from studentops.registry.models import fairness_gate_for_version

    facts = result.card_facts or {}
    data = facts.get("data") or {}
    profile = result.profile
    gate = fairness_gate_for_version(version, settings.fairness_max_gap)
    source = validation.get("data") or "profile seed file"
    if source == "profile seed file" and profile.source is not None:
        source = f"{profile.source.file} (the profile's seed file)"
    card = {
        "name": version.name,
        "version": version.version,
        "run_id": version.run_id,
        "profile": profile.name,
        "task": profile.task,
        "algorithm": result.algorithm,
        "metric": result.metric,
        "cv_score": result.cv_score,
        "trained_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "data_fingerprint": result.data_fingerprint,
        "final_fit": dict(getattr(result, "final_fit", None) or {}),
        "data": {
            "source": source,
            "description": profile.description,
            "rows_total": int(validation.get("rows", result.train_rows + result.test_rows)),
            "rows_accepted": int(validation.get("accepted", result.train_rows + result.test_rows)),
            "rows_rejected": int(validation.get("rejected", 0)),
            "train_rows": result.train_rows,
            "test_rows": result.test_rows,
            "split": result.split,
            "period": data.get("period"),
            "class_balance": data.get("class_balance"),
            "empty_features": list(getattr(result, "empty_features", None) or []),
        },
        "level": facts.get("level", 0.95),
        "intervals": facts.get("intervals") or {},
        "calibration": facts.get("calibration"),
        "operating": facts.get("operating"),
        "bands": {"high": settings.risk_high, "medium": settings.risk_medium},
        "importance": result.importance,
        "fairness": result.fairness,
        "gate": {
            "max_gap": settings.fairness_max_gap,
            "passed": gate.passed,
            "verdict": gate.detail,
        },
        "sensitive": list(profile.sensitive),
        "sensitive_as_features": profile.sensitive_as_features,
        "retention_days": settings.privacy_retention_days,
    }
    return to_json_safe(card)


# -- rendering -------------------------------------------------------------------------------


def to_markdown(card: dict[str, Any]) -> str:
    """The card as GitHub-flavoured Markdown."""
    parts = []
    for block in card_blocks(card):
        parts.append(_md(block))
    return "\n\n".join(parts) + "\n"


def _md(block: Block) -> str:
    if block.kind == "heading":
        return f"{'#' * block.level} {block.text}"
    if block.kind == "text":
        return block.text
    if block.kind == "list":
        return "\n".join(f"- {item}" for item in block.items)
    cell = lambda v: str(v).replace("|", "\\|")  # noqa: E731
    lines = []
    if block.caption:
        lines.append(f"*{block.caption}*\n")
    lines.append("| " + " | ".join(cell(h) for h in block.header) + " |")
    lines.append("|" + "|".join("---" for _ in block.header) + "|")
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in block.rows]
    return "\n".join(lines)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:72rem;
margin:2rem auto;padding:0 1rem;color:#1f2328;line-height:1.45}
h1{border-bottom:2px solid #d0d7de;padding-bottom:.3rem}
h2{margin-top:2rem;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.88rem}
th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}caption{caption-side:top;text-align:left;font-style:italic;padding:.25rem 0}
code{background:#f6f8fa;padding:0 .2rem;border-radius:3px}
"""


def to_html(card: dict[str, Any]) -> str:
    """The card as one self-contained HTML page (inline CSS; no scripts, images or links)."""
    title = html.escape(f"Model card: {card['name']} version {card['version']}")
    body = "\n".join(_html(b) for b in card_blocks(card))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{_CSS}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def _inline(value: str) -> str:
    """Escape, then the two Markdown marks the card uses: **bold** and `code`."""
    out = html.escape(value)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


def _html(block: Block) -> str:
    if block.kind == "heading":
        return f"<h{block.level}>{_inline(block.text)}</h{block.level}>"
    if block.kind == "text":
        return f"<p>{_inline(block.text)}</p>"
    if block.kind == "list":
        return "<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in block.items) + "</ul>"
    caption = f"<caption>{_inline(block.caption)}</caption>" if block.caption else ""
    head = "".join(f"<th>{_inline(h)}</th>" for h in block.header)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_inline(v)}</td>" for v in row) + "</tr>" for row in block.rows
    )
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


# -- logging and fetching --------------------------------------------------------------------


def log_model_card(
    client: MlflowClient,
    result: TrainResult,
    version: VersionSummary,
    *,
    validation: dict[str, Any],
    settings: Settings,
) -> dict[str, Any]:
    """Build, render and log the card of a newly registered version (the registration hook).

    Logs ``model_card/model_card.md``, ``model_card/model_card.html`` and
    ``model_card/card.json`` to the version's run and tags the version with the folder.

    Returns:
        The card's data.

    Raises:
        ModelError: the version has no MLflow run to hold its card.
    """
    if version.run_id is None:
        raise ModelError(f"{version.name} v{version.version} has no run to hold its card")
    card = build_card(result, version, validation=validation, settings=settings)
    client.log_text(version.run_id, to_markdown(card), f"{CARD_DIR}/{FILES['markdown']}")
    client.log_text(version.run_id, to_html(card), f"{CARD_DIR}/{FILES['html']}")
    client.log_text(version.run_id, json.dumps(card, indent=2), f"{CARD_DIR}/{FILES['json']}")
    client.set_model_version_tag(version.name, version.version, CARD_TAG, CARD_DIR)
    return card


def resolve_version(
    client: MlflowClient, profile_name: str, version: str | int | None
) -> VersionSummary:
    """``version``, else the champion, else the newest version; ModelError when none.

    Raises:
        ModelError: the profile has no registered model, or not the version asked for.
    """
    from studentops.registry.models import (
        CHAMPION,
        get_version,
        list_versions,
        registered_model_name,
        version_by_alias,
    )

    name = registered_model_name(profile_name)
    if version is not None:
        return get_version(client, name, version)
    found = version_by_alias(client, name, CHAMPION)
    if found is not None:
        return found
    versions = list_versions(client, profile_name)
    if not versions:
        raise ModelError(
            f"no registered model {name}: train one first "
            f"(studentops train --profile {profile_name})"
        )
    return versions[0]


def run_artifact_text(client: MlflowClient, run_id: str, path: str) -> str:
    """One text artifact of a run; ModelError when it is absent.

    Raises:
        ModelError: the run has no artifact at ``path``.
    """
    import tempfile
    from pathlib import Path

    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory() as folder:
        try:
            local = client.download_artifacts(run_id, path, folder)
        except (MlflowException, OSError) as exc:
            raise ModelError(f"run {run_id} has no artifact {path}") from exc
        return Path(local).read_text(encoding="utf-8")


def model_card(
    profile_name: str,
    version: str | int | None = None,
    *,
    fmt: str = "markdown",
    settings: Settings | None = None,
) -> str:
    """A version's model card (default: the champion, else the newest version).

    Args:
        profile_name: the profile whose registered model to read.
        version: a version number; None for the champion (or the newest).
        fmt: ``markdown``, ``html`` or ``json``.

    Returns:
        The card's text in that format.

    Raises:
        ModelError: no such model or version, or the version has no card (registered before
            cards existed).
    """
    from studentops.tracking import client_for

    if fmt not in FILES:
        raise ModelError(f"unknown card format '{fmt}' (choose: {', '.join(FILES)})")
    client = client_for(settings or load_settings())
    summary = resolve_version(client, profile_name, version)
    if summary.run_id is None:
        raise ModelError(f"{summary.name} v{summary.version} has no run, hence no card")
    return run_artifact_text(client, summary.run_id, f"{CARD_DIR}/{FILES[fmt]}")


def demo_card_step(
    settings: Settings, profile_name: str, step: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """The demo's responsible-use step: where the served model's card is and what it says in brief.

    ``step`` prints the step's heading (the demo numbers its steps in one place). Returns the
    card's data (the demo test reads it).
    """
    from rich.console import Console

    console = Console()
    heading = step or (lambda text: console.rule(f"[bold]{text}"))
    heading("responsible use: the model card and the fairness audit")
    card = json.loads(model_card(profile_name, fmt="json", settings=settings))
    op = card.get("operating") or {}
    if op:
        console.print(
            f"flags {op['flagged_per_100']:.1f} of every 100 students; finds "
            f"{100 * (op.get('recall') or 0):.0f}% of those at risk"
        )
    console.print(f"fairness gate: {card['gate']['verdict']}")
    console.print(
        f"model card: {CARD_DIR}/{FILES['html']} in MLflow run {card['run_id']}; "
        f"audit: studentops fairness --profile {profile_name}"
    )
    return card
