"""Loading registered models for serving and scoring, and a cheap poll for champion changes.

Serving calls :func:`champion_version` on a timer and :func:`load_student_model` only when the
version changed. An alias is resolved to a version first and the version is loaded, so the
metadata returned always describes the model returned, even if the alias moves meanwhile.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from studentops.config import Settings, load_settings
from studentops.datasets.profile import Profile
from studentops.errors import ModelError
from studentops.registry.models import CHAMPION, registered_model_name, version_by_alias

_ALIAS_URI = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[^/@]+)$")
_VERSION_URI = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>\d+)$")


@dataclass(frozen=True)
class ModelInfo:
    """What a loaded model is: registered name and version, run, test metrics and profile."""

    uri: str
    name: str | None
    version: str | None
    run_id: str | None
    metrics: dict[str, float]
    profile: Profile
    aliases: list[str] = field(default_factory=list)
    metric: str | None = None
    score: float | None = None


def champion_uri(profile_name: str) -> str:
    """The ``models:/<registered name>@champion`` URI of a profile's champion."""
    return f"models:/{registered_model_name(profile_name)}@{CHAMPION}"


def champion_version(profile_name: str, settings: Settings | None = None) -> str | None:
    """The champion's version number, or None when there is none yet. One registry read."""
    from studentops.tracking import client_for

    client = client_for(settings or load_settings())
    found = version_by_alias(client, registered_model_name(profile_name), CHAMPION)
    return found.version if found else None


def load_student_model(uri: str, settings: Settings | None = None) -> tuple[Any, ModelInfo]:
    """Load a logged model and return its StudentModel with metadata.

    Args:
        uri: ``models:/<name>@<alias>``, ``models:/<name>/<version>``, or any MLflow model URI
            (``runs:/...``, ``models:/<model_id>``, a path); the last kind has no version.
        settings: where the tracking server and registry are; default: :func:`load_settings`.

    Returns:
        ``(student_model, info)``.

    Raises:
        ModelError: no version holds the alias, the model cannot be loaded, or it is not a
            studentops model.
    """
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException

    from studentops.registry.models import get_version
    from studentops.tracking import client_for

    client = client_for(settings or load_settings())
    summary = None
    if match := _ALIAS_URI.match(uri):
        summary = version_by_alias(client, match["name"], match["alias"])
        if summary is None:
            hint = " (train one, then: studentops promote)" if match["alias"] == CHAMPION else ""
            raise ModelError(f"no version of {match['name']} holds @{match['alias']}{hint}")
    elif match := _VERSION_URI.match(uri):
        summary = get_version(client, match["name"], match["version"])
    load_uri = summary.uri if summary else uri
    try:
        pyfunc = mlflow.pyfunc.load_model(load_uri)
    except MlflowException as exc:
        raise ModelError(f"cannot load model {load_uri}: {exc.message}") from exc
    model = getattr(pyfunc.unwrap_python_model(), "model", None)
    if model is None:
        raise ModelError(f"{load_uri} is not a studentops model")
    if summary is None:
        run_id = pyfunc.metadata.run_id
        info = ModelInfo(
            uri=load_uri, name=None, version=None, run_id=run_id, metrics={}, profile=model.profile
        )
    else:
        info = ModelInfo(
            uri=load_uri,
            name=summary.name,
            version=summary.version,
            run_id=summary.run_id,
            metrics=dict(summary.test_metrics),
            profile=model.profile,
            aliases=list(summary.aliases),
            metric=summary.metric,
            score=summary.score,
        )
    return model, info


def load_champion(profile_name: str, settings: Settings | None = None) -> tuple[Any, ModelInfo]:
    """The profile's champion; a clear ModelError when none was promoted yet."""
    return load_student_model(champion_uri(profile_name), settings)
