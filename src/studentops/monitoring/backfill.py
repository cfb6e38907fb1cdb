"""Backfill a reference profile for a model registered before reference profiles existed.

A drift check compares a window with the reference profile logged beside the model
(:mod:`studentops.monitoring.reference`). A version registered before that step existed has
none, and ``studentops monitor`` says so in one line with the command that fixes it::

    studentops backfill-reference --profile NAME --data TRAINING_FILE [--version N]

:func:`backfill_reference` validates the file against the profile, loads the registered model
(to summarise its predictions and risk scores on those rows, as at registration) and logs the
reference artifact to the version's MLflow run. The file should be the data the version was
trained on (its run's ``data`` parameter names it); the reference records which file it came
from. No student row is stored: only bins, shares and quantiles.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from studentops.errors import DataError, ModelError

if TYPE_CHECKING:
    from studentops.config import Settings


def backfill_command(profile_name: str) -> str:
    """The command that builds a missing reference (shown when a check cannot run)."""
    return f"studentops backfill-reference --profile {profile_name} --data TRAINING_FILE"


@dataclass
class Backfilled:
    """What :func:`backfill_reference` logged: the version, its run and the reference size."""

    model_name: str
    version: str
    run_id: str
    n_rows: int
    n_features: int
    data: str


def backfill_reference(
    profile_name: str,
    data: str | Path,
    *,
    settings: Settings | None = None,
    version: str | None = None,
    replace: bool = False,
) -> Backfilled:
    """Build the reference profile of a registered version from its training file and log it.

    Args:
        profile_name: the dataset profile.
        data: the training file (CSV/Parquet), ``(n_rows, columns)`` with the profile's
            features (and the target, for the class balance).
        version: the registered version; default the champion.
        replace: overwrite a reference the version already has.

    Returns:
        A :class:`Backfilled` summary.

    Raises:
        ModelError: no such version or champion, or the version already has a reference (and
            ``replace`` is false).
        DataError: the file has no valid row for the profile.
    """
    from studentops.config import load_settings
    from studentops.datasets.validation import validate_file
    from studentops.monitoring.reference import build_reference, load_reference, log_reference
    from studentops.registry.models import (
        CHAMPION,
        get_version,
        registered_model_name,
        version_by_alias,
    )
    from studentops.registry.store import load_student_model
    from studentops.tracking import client_for

    settings = settings or load_settings()
    client = client_for(settings)
    name = registered_model_name(profile_name)
    summary = (
        get_version(client, name, version)
        if version is not None
        else version_by_alias(client, name, CHAMPION)
    )
    if summary is None:
        raise ModelError(f"no champion for profile '{profile_name}': train and promote one first")
    if not summary.run_id:
        raise ModelError(f"{name} v{summary.version} has no MLflow run to log a reference to")
    if not replace and load_reference(client, summary.run_id) is not None:
        raise ModelError(
            f"{name} v{summary.version} already has a reference profile (--replace to rebuild)"
        )
    profile, validation = validate_file(profile_name, data, require_target=False, settings=settings)
    if validation.accepted == 0:
        raise DataError(f"{data}: no valid row for profile '{profile_name}'")
    model, _ = load_student_model(f"models:/{name}/{summary.version}", settings)
    # The model's own profile: training leaves out empty and constant features.
    reference = build_reference(
        getattr(model, "profile", profile), validation.valid, model, settings.monitor_bins
    )
    reference.source = Path(data).name
    log_reference(client, summary.run_id, reference)
    return Backfilled(
        model_name=name,
        version=summary.version,
        run_id=summary.run_id,
        n_rows=reference.n_rows,
        n_features=len(reference.features),
        data=str(data),
    )


def missing_reference_message(model_name: str, version: str, profile_name: str) -> str:
    """The one line ``studentops monitor`` prints for a version without a reference."""
    return (
        f"{model_name} v{version} has no reference profile (registered before monitoring "
        f"existed): build it from its training file with `{backfill_command(profile_name)}`"
    )
