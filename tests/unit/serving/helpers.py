"""Helpers of the API tests: an in-memory model source and an app client factory."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from studentops.config import Settings
from studentops.serving.app import create_app
from studentops.serving.predictor import ModelInfo

from .standin import fake_explainer

PROFILE = "uci-dropout-binary"


class MemorySource:
    """A registry stand-in: versions held in memory, the champion moved by ``promote``."""

    def __init__(self) -> None:
        self.models: dict[str, Any] = {}
        self.champion: str | None = None
        self.loads = 0

    def add(self, version: str, model: Any, promote: bool = True) -> None:
        self.models[version] = model
        if promote:
            self.champion = version

    def current_version(self) -> str | None:
        return self.champion

    def load(self, version: str) -> tuple[Any, ModelInfo]:
        self.loads += 1
        model = self.models[version]
        return model, ModelInfo(
            name=f"studentops-{model.profile.name}",
            version=version,
            profile=model.profile.name,
            run_id=f"run-{version}",
            metrics={"roc_auc": 0.9},
        )


def make_client(settings: Settings, source: MemorySource, **kwargs: Any) -> TestClient:
    app = create_app(settings, source=source, explainer=fake_explainer, **kwargs)
    return TestClient(app, raise_server_exceptions=False)
