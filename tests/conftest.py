"""Shared fixtures: the seed data folder (skip when absent) and an isolated state folder."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real seed datasets; tests that need them skip when ../shared is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"seed data not found at {SHARED_DATA} (../shared is absent)")
    return SHARED_DATA


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point all studentops state at a fresh folder for one test."""
    state = tmp_path / "state"
    monkeypatch.setenv("STUDENTOPS_HOME", str(state))
    monkeypatch.setenv("STUDENTOPS_DATA_DIR", str(SHARED_DATA))
    monkeypatch.setenv("STUDENTOPS_CONFIG", str(tmp_path / "none.yaml"))
    return state


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic OULAD folder of 300 enrolments with a small click log (events tests and
    the early-warning study's tests share it)."""
    from studentops.events.synthetic import generate_oulad, write_oulad

    folder = tmp_path_factory.mktemp("syn")
    write_oulad(generate_oulad(300, seed=4, clicks_per_student=5), folder)
    return folder
