"""Database URLs that use the drivers studentops installs.

SQLAlchemy (behind MLflow's stores, Optuna's storage, the prediction log and the alert state)
picks psycopg2 for a plain ``postgresql://`` URL, but studentops depends on psycopg 3
(``psycopg``), so every URL a user gives goes through :func:`with_installed_driver` first.
This module imports nothing heavy and nothing from the parts: any part may use it.
"""

from __future__ import annotations

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
