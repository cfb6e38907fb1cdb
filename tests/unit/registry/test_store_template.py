"""A new home's MLflow database is a copy of a migrated empty one from the user cache."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from studentops.config import Settings
from studentops.tracking import client_for, ensure_experiment, seed_sqlite_store


def _tables(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}


def test_first_home_builds_the_template_and_later_homes_copy_it(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = Settings(home=tmp_path / "a", cache_dir=cache)
    client_for(first)  # the first home: the template is built, then copied
    templates = list(cache.glob("mlflow-*.db"))
    assert len(templates) == 1
    assert {"experiments", "runs", "registered_models", "alembic_version"} <= _tables(templates[0])
    second = Settings(home=tmp_path / "b", cache_dir=cache)
    stamp = templates[0].stat().st_mtime_ns
    client = client_for(second)
    assert templates[0].stat().st_mtime_ns == stamp  # reused, not rebuilt
    # The copy is a working store: experiments and registered models can be created.
    experiment = ensure_experiment(client, "toy", second)
    found = client.get_experiment(experiment)
    assert found.artifact_location.endswith("/toy")
    assert str(second.home.resolve()) in found.artifact_location
    client.create_registered_model("studentops-toy")
    assert [m.name for m in client.search_registered_models()] == ["studentops-toy"]
    # The first home did not see the second's experiment: two databases, not one shared.
    assert client_for(first).get_experiment_by_name("studentops/toy") is None


def test_an_existing_database_is_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    db.write_bytes(b"not replaced")
    assert seed_sqlite_store(db, Settings(home=tmp_path, cache_dir=tmp_path / "c")) is False
    assert db.read_bytes() == b"not replaced"


def test_a_cache_path_that_is_a_file_falls_back(tmp_path: Path) -> None:
    """Runs as root too: a file where the cache folder should be cannot hold the template."""
    blocker = tmp_path / "cache"
    blocker.write_text("a file, not a folder")
    settings = Settings(home=tmp_path / "h", cache_dir=blocker / "sub")
    settings.ensure_home()
    assert seed_sqlite_store(settings.home / "mlflow.db", settings) is False
    assert ensure_experiment(client_for(settings), "toy", settings)
