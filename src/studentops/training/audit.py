"""The fairness audit of a registered version: as recorded at training, or on new labelled data.

What ``studentops fairness`` and the dashboard call. Without data, the audit is the one training
ran on its held-out students (``fairness.json`` of the version's run); with a labelled file
(students whose outcomes are now known) the version's model is audited on it afresh.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studentops.config import Settings, load_settings

if TYPE_CHECKING:
    from studentops.registry.models import Gate, VersionSummary


@dataclass(frozen=True)
class Audit:
    """A fairness report with the version it describes and the gate's verdict on it."""

    version: VersionSummary
    report: dict[str, Any]
    gate: Gate
    source: str  # "held-out students at training" or the data file


def audit_version(
    profile: str,
    version: str | int | None = None,
    *,
    data: str | Path | None = None,
    sep: str | None = None,
    settings: Settings | None = None,
) -> Audit:
    """Fairness report of a version (default: the champion, else the newest).

    Args:
        profile: profile name (or YAML path, for ``data``).
        version: version number, or None.
        data: a labelled CSV/Parquet file to audit on; None reads the training-time audit.

    Raises:
        ModelError: no model, no such version, or no stored audit.
        DataError: the file cannot be used (no valid rows, no target).
    """
    from studentops.registry.cards import resolve_version, run_artifact_text
    from studentops.registry.models import fairness_gate_for_report
    from studentops.tracking import client_for

    settings = settings or load_settings()
    name = profile
    if profile.endswith((".yaml", ".yml")):
        from studentops.datasets.profile import load_profile

        name = load_profile(profile).name
    client = client_for(settings)
    summary = resolve_version(client, name, version)
    if data is None:
        if summary.run_id is None:
            from studentops.errors import ModelError

            raise ModelError(f"{summary.name} v{summary.version} has no run, hence no audit")
        report = json.loads(run_artifact_text(client, summary.run_id, "fairness.json"))
        source = "held-out students at training"
    else:
        report = _audit_file(summary.uri, profile, data, sep, settings)
        source = str(data)
    gate = fairness_gate_for_report(report, settings.fairness_max_gap)
    return Audit(version=summary, report=report, gate=gate, source=source)


def _audit_file(
    uri: str, profile: str, data: str | Path, sep: str | None, settings: Settings
) -> dict[str, Any]:
    from studentops.datasets.validation import validate_file
    from studentops.errors import DataError
    from studentops.registry.store import load_student_model
    from studentops.training.fairness import fairness_report

    model, _ = load_student_model(uri, settings)
    _, validation = validate_file(
        model.profile, data, sep=sep, require_target=True, settings=settings
    )
    if validation.accepted == 0:
        raise DataError(f"{data}: no valid labelled rows to audit ({validation.total} rejected)")
    return fairness_report(model, validation.valid)
