"""Purge, erase and key rotation against a real PostgreSQL server (the same checks as SQLite)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from studentops.config import load_settings


def _seed_module() -> Any:
    """The shared seeding helper, imported by path (integration tests are not a package)."""
    name = "studentops_tests_privacy_seed"
    if name not in sys.modules:
        path = Path(__file__).parents[1] / "unit" / "privacy" / "seed.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec and spec.loader
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


seed = _seed_module()


def test_purge_and_erase_postgres(home: Path, postgres_url: str) -> None:
    settings = load_settings(prediction_log_url=postgres_url)
    seed.check_purge_and_erase(settings)


def test_rotation_postgres(home: Path, postgres_url: str) -> None:
    from studentops.monitoring.predlog import predictions
    from studentops.monitoring.pseudonym import Pseudonymiser
    from studentops.monitoring.store import outcomes
    from studentops.privacy.keys import rotate_key

    settings = load_settings(prediction_log_url=postgres_url)
    seed.seed(settings)
    rotation = rotate_key(settings, "a-fresh-secret", list(seed.STUDENTS))
    assert rotation.rekeyed == {"predictions": 6, "outcomes": 6}
    key = Pseudonymiser("a-fresh-secret")(seed.STUDENTS[0])
    assert seed.keys_in(settings, predictions).count(key) == 2
    assert seed.keys_in(settings, outcomes).count(key) == 2
