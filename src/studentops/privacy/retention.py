"""Retention and erasure: delete old rows everywhere, or one student's rows everywhere.

- :func:`purge` deletes prediction-log, outcome and monitoring rows dated before a cut-off
  (``settings.privacy_retention_days`` by default), and files of rejected cells and event-log
  feature tables older than it.
- :func:`erase` deletes one student's rows: it pseudonymises the raw id under the current key
  and every earlier key (``settings.pseudonym_previous_keys``) and deletes rows with any of
  those keys; in files that hold raw ids (event-log feature tables, rejected id cells) it
  removes the rows of that id.

Both drop the prediction log's Parquet read copy (:mod:`studentops.monitoring.columnar`): it
holds student keys, and the next check rebuilds it from the database, which stays the source
of truth. Both return a report of what was removed, place by place. The places are listed in
:mod:`studentops.privacy.places` (and docs/privacy.md).
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studentops.errors import ConfigError, DataError
from studentops.monitoring.pseudonym import Pseudonymiser, normalise_id
from studentops.privacy.places import (
    TABLES,
    columnar_copy,
    events_dir,
    rejects_dir,
    risk_lists_dir,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from studentops.config import Settings


@dataclass
class Removal:
    """What one operation removed: rows per table, files or rows per file, notes."""

    action: str
    rows: dict[str, int] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def total_rows(self) -> int:
        """Rows deleted in all stores together."""
        return sum(self.rows.values())

    def to_dict(self) -> dict[str, Any]:
        """The removal as plain JSON values: action, rows and files per store, notes."""
        return {
            "action": self.action,
            "rows": dict(self.rows),
            "files": dict(self.files),
            "notes": list(self.notes),
        }


def keys_for(student_id: Any, settings: Settings) -> list[str]:
    """The student's pseudonymous key under the current and every earlier key.

    Raises:
        DataError: ``student_id`` is empty.
    """
    if student_id is None or not normalise_id(student_id):
        raise DataError("a student id is required")
    secrets = [settings.pseudonym_key, *settings.pseudonym_previous_keys]
    keys = [Pseudonymiser(secret)(student_id) for secret in secrets]
    return list(dict.fromkeys(k for k in keys if k))


def _engine(settings: Settings) -> Engine:
    from studentops.databases import with_installed_driver
    from studentops.monitoring.predlog import make_engine

    if not settings.prediction_log_url:
        settings.ensure_home()  # the default SQLite file lives there
    return make_engine(with_installed_driver(settings.prediction_log))


def _existing(engine: Engine) -> set[str]:
    from sqlalchemy import inspect

    return set(inspect(engine).get_table_names())


def _table(engine: Engine, name: str) -> Any:
    from sqlalchemy import MetaData, Table

    return Table(name, MetaData(), autoload_with=engine)


def _drop_columnar(settings: Settings, removal: Removal) -> None:
    folder = columnar_copy(settings)
    if folder.exists():
        shutil.rmtree(folder)
        removal.files[str(folder)] = "deleted (read copy of the prediction log, rebuilt on use)"


# -- purge -----------------------------------------------------------------------------------


def purge(
    settings: Settings, older_than_days: float | None = None, *, now: dt.datetime | None = None
) -> Removal:
    """Delete rows and files dated before ``now - older_than_days``.

    Args:
        settings: where the stores are.
        older_than_days: retention in days; default ``settings.privacy_retention_days``.
        now: the reference time (UTC); default the current time.

    Returns:
        A :class:`Removal` with rows deleted per table and files deleted.

    Raises:
        ConfigError: a negative number of days.
    """
    from sqlalchemy import delete, select

    days = settings.privacy_retention_days if older_than_days is None else older_than_days
    if days < 0:
        raise ConfigError(f"--older-than must be 0 or more days, got {days:g}")
    now = now or dt.datetime.now(dt.UTC)
    cutoff = now - dt.timedelta(days=days)
    removal = Removal("purge", notes=[f"cut-off {cutoff:%Y-%m-%d %H:%M} UTC ({days:g} days)"])
    engine = _engine(settings)
    try:
        present = _existing(engine)
        with engine.begin() as conn:
            for place in TABLES:
                if place.table not in present:
                    removal.rows[place.table] = 0  # not created yet: nothing stored
                    continue
                table = _table(engine, place.table)
                when = _comparable(cutoff, engine)
                old = table.c[place.time_column] < when
                for child, fk in place.children:
                    if child in present:
                        child_table = _table(engine, child)
                        ids = select(table.c.id).where(old)
                        done = conn.execute(delete(child_table).where(child_table.c[fk].in_(ids)))
                        removal.rows[child] = int(done.rowcount or 0)
                done = conn.execute(delete(table).where(old))
                removal.rows[place.table] = int(done.rowcount or 0)
    finally:
        engine.dispose()
    if removal.total_rows:
        _drop_columnar(settings, removal)
    limit = cutoff.timestamp()
    for folder in (rejects_dir(settings), events_dir(settings)):
        if not folder.is_dir():
            continue
        for path in sorted(p for p in folder.iterdir() if p.is_file()):
            if path.stat().st_mtime < limit:
                path.unlink()
                removal.files[str(path)] = "deleted (older than the cut-off)"
    snapshots = sorted((settings.home / "retraining").glob("*/*/train.parquet"))
    for path in [*sorted(risk_lists_dir(settings).glob("*/batches/*")), *snapshots]:
        if path.is_file() and path.stat().st_mtime < limit:
            path.unlink()
            removal.files[str(path)] = "deleted (older than the cut-off)"
    return removal


def _comparable(when: dt.datetime, engine: Engine) -> dt.datetime:
    """SQLite stores times naive (UTC); PostgreSQL compares aware times."""
    return when.replace(tzinfo=None) if engine.dialect.name == "sqlite" else when


# -- erase -----------------------------------------------------------------------------------


def erase(settings: Settings, student_id: Any) -> Removal:
    """Delete one student's rows everywhere the product stores them.

    Args:
        settings: where the stores are, and the pseudonym keys (current and earlier).
        student_id: the raw id as the school knows it (never stored, never logged).

    Returns:
        A :class:`Removal`: rows deleted per table, files changed. Monitoring result rows are
        aggregates over many students and hold no student key; they are left as they are.
    """
    from sqlalchemy import delete

    keys = keys_for(student_id, settings)
    removal = Removal("erase")
    engine = _engine(settings)
    try:
        present = _existing(engine)
        with engine.begin() as conn:
            for place in TABLES:
                if place.key_column is None:
                    continue
                if place.table not in present:
                    removal.rows[place.table] = 0  # not created yet: nothing stored
                    continue
                table = _table(engine, place.table)
                done = conn.execute(delete(table).where(table.c[place.key_column].in_(keys)))
                removal.rows[place.table] = int(done.rowcount or 0)
    finally:
        engine.dispose()
    if removal.total_rows:
        _drop_columnar(settings, removal)
    _erase_in_files(settings, normalise_id(student_id), removal)
    removal.notes.append(
        f"matched under {len(keys)} pseudonym key(s); monitoring results are aggregates "
        "without student keys and were kept"
    )
    return removal


def _profile_id_column(path: Path, settings: Settings) -> str | None:
    """The id column of the profile a file was written for (``<profile>-...`` file names)."""
    from studentops.datasets.profile import builtin_profile_names, load_profile
    from studentops.errors import ProfileError

    names = set(builtin_profile_names())
    if settings.profiles_dir and Path(settings.profiles_dir).is_dir():
        names |= {p.stem for p in Path(settings.profiles_dir).glob("*.y*ml")}
    for name in sorted(names, key=len, reverse=True):
        if path.name.startswith(f"{name}-"):
            try:
                return load_profile(name, settings.profiles_dir).id
            except ProfileError:
                return None
    return None


def _erase_in_files(settings: Settings, raw: str, removal: Removal) -> None:
    import pandas as pd

    folder = rejects_dir(settings)
    for path in sorted(folder.glob("*.csv")) if folder.is_dir() else []:
        id_column = _profile_id_column(path, settings)
        if not id_column:
            continue
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        if not {"column", "value"} <= set(frame.columns):
            continue
        hit = (frame["column"] == id_column) & (frame["value"].map(normalise_id) == raw)
        _rewrite(path, frame, hit, removal, frame.to_csv)
    folder = events_dir(settings)
    # Event-log feature files are named <profile>-week-W; a saved risk list sits in its
    # profile's folder (<home>/dashboard/<profile>/batches/).
    tables = [(p, p) for p in sorted(folder.glob("*.parquet"))] if folder.is_dir() else []
    tables += [
        (p, Path(f"{p.parent.parent.name}-list"))
        for p in sorted(risk_lists_dir(settings).glob("*/batches/*.parquet"))
    ]
    for path, named in tables:
        id_column = _profile_id_column(named, settings)
        if not id_column:
            continue
        frame = pd.read_parquet(path)
        if id_column not in frame.columns:
            continue
        hit = frame[id_column].map(normalise_id) == raw
        _rewrite(path, frame, hit, removal, frame.to_parquet)


def _rewrite(path: Path, frame: Any, hit: Any, removal: Removal, writer: Any) -> None:
    count = int(hit.sum())
    if not count:
        return
    kept = frame.loc[~hit]
    tmp = path.with_name(f".{path.name}.{time.time_ns()}.tmp")
    getattr(kept, writer.__name__)(tmp, index=False)
    tmp.replace(path)
    removal.files[str(path)] = f"{count} row(s) removed"
