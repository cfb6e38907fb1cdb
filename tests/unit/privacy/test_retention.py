"""Purge, erase and key rotation on the default SQLite store (PostgreSQL: tests/integration)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from pydantic import SecretStr

from studentops.config import Settings, load_settings
from studentops.errors import ConfigError
from studentops.monitoring.predlog import metadata as log_metadata
from studentops.monitoring.predlog import predictions
from studentops.monitoring.pseudonym import Pseudonymiser
from studentops.monitoring.store import metadata as monitor_metadata
from studentops.monitoring.store import outcomes
from studentops.privacy.keys import rotate_key
from studentops.privacy.places import TABLES, columnar_copy, events_dir, rejects_dir
from studentops.privacy.retention import erase, purge

from ..registry.toy import TOY_PROFILE
from . import seed


@pytest.fixture
def settings(home: Path) -> Settings:
    settings = load_settings()
    settings.ensure_home()
    return settings


def test_every_table_with_student_rows_is_a_place() -> None:
    """A table added to the log or the monitoring store must be added to the privacy list."""
    places = {p.table: p for p in TABLES}
    children = {c for p in TABLES for c, _ in p.children}
    for table in [*log_metadata.tables.values(), *monitor_metadata.tables.values()]:
        assert table.name in places or table.name in children, table.name
        if "student_key" in table.c:
            assert places[table.name].key_column == "student_key"


def test_purge_and_erase_sqlite(settings: Settings) -> None:
    seed.check_purge_and_erase(settings)


def test_erase_matches_earlier_keys_and_files(settings: Settings, tmp_path: Path) -> None:
    old = SecretStr("the-key-of-last-year")
    seed.log_predictions(settings, [(seed.STUDENTS[0], seed.RECENT)], old)
    seed.log_predictions(settings, [(seed.STUDENTS[0], seed.RECENT)], settings.pseudonym_key)
    seed.log_predictions(settings, [(seed.STUDENTS[2], seed.RECENT)], settings.pseudonym_key)
    rejects = rejects_dir(settings)
    rejects.mkdir(parents=True)
    pd.DataFrame(
        {
            "row": [1, 2, 3],
            "column": ["student_id", "student_id", "age"],
            "value": [seed.STUDENTS[0], seed.STUDENTS[2], seed.STUDENTS[0]],
            "reason": ["wrong type"] * 3,
        }
    ).to_csv(rejects / "toy-dropout-20261130T000000.csv", index=False)
    events = events_dir(settings)
    events.mkdir(parents=True)
    pd.DataFrame({"student_id": [seed.STUDENTS[0], seed.STUDENTS[2]], "week": [3, 3]}).to_parquet(
        events / "toy-dropout-week-3.parquet"
    )
    columnar = columnar_copy(settings)
    columnar.mkdir(parents=True)
    (columnar / "part.parquet").write_bytes(b"copy")
    (tmp_path / "profiles").mkdir()
    # The files are named for a profile whose id column is student_id.
    (tmp_path / "profiles" / "toy-dropout.yaml").write_text(TOY_PROFILE, encoding="utf-8")
    with_old = load_settings(pseudonym_previous_keys=[old], profiles_dir=tmp_path / "profiles")
    assert erase(settings, seed.STUDENTS[0]).rows["predictions"] == 1  # current key only
    gone = erase(with_old, seed.STUDENTS[0])
    assert gone.rows["predictions"] == 1  # the row under last year's key
    assert len(seed.keys_in(settings, predictions)) == 1
    left = pd.read_csv(rejects / "toy-dropout-20261130T000000.csv")
    assert left["value"].tolist() == [seed.STUDENTS[2], seed.STUDENTS[0]]  # id cell gone only
    assert pd.read_parquet(events / "toy-dropout-week-3.parquet")["student_id"].tolist() == [
        seed.STUDENTS[2]
    ]
    assert not columnar.exists()
    assert any("rows removed" in v or "row(s) removed" in v for v in gone.files.values())


def test_purge_deletes_old_files(settings: Settings) -> None:
    import os

    folder = rejects_dir(settings)
    folder.mkdir(parents=True)
    old, new = folder / "x-old.csv", folder / "x-new.csv"
    old.write_text("row,column,value,reason\n")
    new.write_text("row,column,value,reason\n")
    os.utime(old, (seed.OLD.timestamp(), seed.OLD.timestamp()))
    os.utime(new, (seed.RECENT.timestamp(), seed.RECENT.timestamp()))
    removed = purge(settings, 365, now=seed.NOW)
    assert str(old) in removed.files and not old.exists() and new.exists()


def test_rotation_keeps_predictions_and_outcomes_joined(settings: Settings) -> None:
    seed.seed(settings)
    roster = list(seed.STUDENTS[:2])  # the third student left: not on the roster
    rotation = rotate_key(settings, "a-fresh-secret", roster)
    assert rotation.rekeyed == {"predictions": 4, "outcomes": 4}
    assert rotation.unmatched == {"predictions": 2, "outcomes": 2}
    fresh = Pseudonymiser("a-fresh-secret")
    for sid in roster:
        key = fresh(sid)
        assert seed.keys_in(settings, predictions).count(key) == 2
        assert seed.keys_in(settings, outcomes).count(key) == 2
    # Run again: nothing left to move, nothing lost.
    again = rotate_key(settings, "a-fresh-secret", roster)
    assert again.rekeyed == {"predictions": 0, "outcomes": 0}
    with pytest.raises(ConfigError):
        rotate_key(settings, settings.pseudonym_key.get_secret_value(), roster)


def test_cli_erase_and_rotate(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from studentops.cli import _register_parts, app

    _register_parts()
    seed.seed(settings)
    runner = CliRunner()
    done = runner.invoke(app, ["privacy", "erase", "--student-id", seed.STUDENTS[0]])
    assert done.exit_code == 0, done.output
    assert "predictions: 2 row(s) deleted" in done.output
    assert seed.STUDENTS[0] not in done.output
    done = runner.invoke(app, ["privacy", "purge", "--older-than", "365", "--json"])
    assert done.exit_code == 0 and '"action": "purge"' in done.output
    monkeypatch.delenv("STUDENTOPS_NEW_PSEUDONYM_KEY", raising=False)
    refused = runner.invoke(app, ["privacy", "rotate-key", "--ids", "x.csv"])
    assert refused.exit_code != 0


def test_dashboard_risk_lists_are_erased_and_purged(settings: Settings, tmp_path: Path) -> None:
    import os

    from studentops.privacy.places import risk_lists_dir

    batches = risk_lists_dir(settings) / "toy-dropout" / "batches"
    batches.mkdir(parents=True)
    kept, old = batches / "20261130T000000-1.parquet", batches / "20240101T000000-1.parquet"
    frame = pd.DataFrame({"student_id": [seed.STUDENTS[0], seed.STUDENTS[2]], "rank": [1, 2]})
    frame.to_parquet(kept)
    frame.to_parquet(old)
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "toy-dropout.yaml").write_text(TOY_PROFILE, encoding="utf-8")
    named = load_settings(profiles_dir=tmp_path / "profiles")
    gone = erase(named, seed.STUDENTS[0])
    assert gone.files[str(kept)] == "1 row(s) removed"
    assert pd.read_parquet(kept)["student_id"].tolist() == [seed.STUDENTS[2]]
    os.utime(old, (seed.OLD.timestamp(), seed.OLD.timestamp()))
    os.utime(kept, (seed.RECENT.timestamp(), seed.RECENT.timestamp()))
    removed = purge(named, 365, now=seed.NOW)
    assert str(old) in removed.files and not old.exists() and kept.exists()
