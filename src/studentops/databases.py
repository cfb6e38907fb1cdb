"""Database URLs that use the drivers studentops installs.

SQLAlchemy (behind MLflow's stores, Optuna's storage, the prediction log and the alert state)
picks psycopg2 for a plain ``postgresql://`` URL, but studentops depends on psycopg 3
(``psycopg``), so every URL a user gives goes through :func:`with_installed_driver` first.
This module imports nothing heavy and nothing from the parts: any part may use it.
"""

from __future__ import annotations

from typing import Any

_POSTGRES_PREFIXES = ("postgresql://", "postgres://")


def with_installed_driver(url: str) -> str:
    """Return ``url`` with psycopg 3 named as the driver if it is a plain PostgreSQL URL.

    ``postgresql://`` and ``postgres://`` become ``postgresql+psycopg://`` (the SQLAlchemy
    dialect name for psycopg 3, see the SQLAlchemy "PostgreSQL dialects" documentation); any
    other URL (SQLite, a file path, a URL naming its driver) is returned unchanged.
    """
    for prefix in _POSTGRES_PREFIXES:
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def create_all_with_retry(metadata: Any, engine: Any, attempts: int = 3) -> None:
    """Create ``metadata``'s tables on ``engine`` if absent (SQLAlchemy ``create_all`` with
    ``checkfirst``), retried: two workers racing to create the same table is not an error.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: still failing after ``attempts`` tries 0.2 s apart.
    """
    import time

    from sqlalchemy.exc import SQLAlchemyError

    for attempt in range(attempts):
        try:
            metadata.create_all(engine, checkfirst=True)
            return
        except SQLAlchemyError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.2)
