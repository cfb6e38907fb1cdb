"""Models for the API from the MLflow registry: the champion of one profile."""

from __future__ import annotations

from typing import Any

from studentops.config import Settings
from studentops.serving.predictor import ModelInfo


class RegistrySource:
    """The champion of ``profile_name``: a cheap version poll and a load by exact version.

    Loading by version (not by alias) means the metadata always describes the model loaded,
    even if the alias moves between the poll and the load.
    """

    def __init__(self, profile_name: str, settings: Settings) -> None:
        self.profile_name = profile_name
        self.settings = settings

    def current_version(self) -> str | None:
        """The champion's version, or None when the profile has none (one registry read)."""
        from studentops.registry.store import champion_version

        return champion_version(self.profile_name, self.settings)

    def load(self, version: str) -> tuple[Any, ModelInfo]:
        """The model of ``version`` (a StudentModel) and its registry metadata.

        Raises:
            ModelError: the version cannot be found or loaded.
        """
        from studentops.registry.models import registered_model_name
        from studentops.registry.store import load_student_model

        uri = f"models:/{registered_model_name(self.profile_name)}/{version}"
        model, meta = load_student_model(uri, self.settings)
        return model, info_from_registry(meta, self.profile_name)


def info_from_registry(meta: Any, profile_name: str) -> ModelInfo:
    """Our ModelInfo from the registry's (name, version, run, metrics, selection score)."""
    extra = {
        "uri": meta.uri,
        "aliases": list(meta.aliases),
        "selection_metric": meta.metric,
        "selection_score": meta.score,
    }
    return ModelInfo(
        name=meta.name or f"studentops-{profile_name}",
        version=str(meta.version or "unregistered"),
        profile=meta.profile.name,
        run_id=meta.run_id,
        metrics=dict(meta.metrics),
        extra={k: v for k, v in extra.items() if v is not None},
    )
