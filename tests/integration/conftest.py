"""Integration fixtures: real servers on loopback.

``postgres_server`` starts one PostgreSQL for the session (skips when the binaries are absent);
``postgres_url`` gives each test a fresh, empty database on it. ``toy_files`` writes a small
synthetic binary dataset and its profile for training runs.
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def _load(name: str, path: Path) -> Any:
    """Import a helper module by path, so it works whatever pytest's import mode."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


HERE = Path(__file__).parent
pg = _load("studentops_tests_postgres", HERE / "postgres.py")
toy = _load("studentops_tests_toy", HERE.parent / "unit" / "registry" / "toy.py")
_databases = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """A PostgreSQL server for the whole session (a ``postgres.PostgresServer``)."""
    try:
        pg.find_bin_dir()
    except pg.PostgresUnavailable as exc:
        pytest.skip(str(exc))
    with pg.postgres_server() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: Any) -> str:
    """``postgresql://postgres@127.0.0.1:<port>/<fresh database>`` for one test."""
    return str(postgres_server.create_database(f"test_{next(_databases)}"))


@pytest.fixture
def toy_files(tmp_path: Path) -> tuple[Path, Path]:
    """(profile YAML, CSV) of 400 synthetic students with a learnable dropout signal."""
    return toy.write_toy_profile(tmp_path), toy.write_toy_data(tmp_path, rows=400)
