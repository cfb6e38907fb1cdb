"""What a scoring run reads: one file, every table in a folder, or a SQL query.

Scheduled scoring rarely gets one tidy file: a district drops one export per school into a
folder, or the students live in a database. Each source becomes one table file that
:func:`studentops.serving.batch.score_file` scores into a single ranked risk list, so the
validation, rejects, prediction log and output stay exactly those of ``studentops score``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from studentops.errors import DataError

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


@dataclass(frozen=True)
class ScoreInput:
    """A table ready to score: its path, where it came from, and how many source files."""

    path: Path
    source: str
    files: int


def resolve_input(
    *,
    data: str | Path | None = None,
    folder: str | Path | None = None,
    sql: str | None = None,
    sql_url: str | None = None,
    work_dir: Path,
    sep: str | None = None,
) -> ScoreInput:
    """Turn exactly one of ``data``, ``folder`` or ``sql`` (with ``sql_url``) into a table file.

    A file is used as it is. The CSV/Parquet files of a folder (sorted by name, not recursive)
    are stacked into ``work_dir/folder-input.parquet``; columns missing from a file are empty.
    A query's result goes to ``work_dir/sql-input.parquet``.

    Raises:
        DataError: no source or more than one, an empty folder, a failing query, no rows.
    """
    given = [name for name, value in (("data", data), ("folder", folder), ("sql", sql)) if value]
    if len(given) != 1:
        raise DataError("give exactly one of data (a file), folder or sql (with sql_url)")
    if data:
        path = Path(data)
        if not path.is_file():
            raise DataError(f"file not found: {path}")
        return ScoreInput(path, str(path), 1)
    work_dir.mkdir(parents=True, exist_ok=True)
    if folder:
        return _stack_folder(Path(folder), work_dir / "folder-input.parquet", sep)
    if not sql_url:
        raise DataError("sql needs sql_url (a SQLAlchemy database URL)")
    return _query(sql_url, str(sql), work_dir / "sql-input.parquet")


def _stack_folder(folder: Path, out: Path, sep: str | None) -> ScoreInput:
    import pandas as pd

    from studentops.datasets.loading import read_table
    from studentops.serving.batch import write_table

    if not folder.is_dir():
        raise DataError(f"folder not found: {folder}")
    files = sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES
    )
    if not files:
        raise DataError(f"{folder}: no .csv or .parquet files to score")
    frames = [read_table(p, sep=sep) for p in files]
    write_table(pd.concat(frames, ignore_index=True), out)
    return ScoreInput(out, f"{folder} ({len(files)} files)", len(files))


def _query(url: str, query: str, out: Path) -> ScoreInput:
    from studentops.databases import with_installed_driver
    from studentops.datasets.loading import read_sql
    from studentops.serving.batch import write_table

    frame = read_sql(with_installed_driver(url), query)
    if frame.empty:
        raise DataError("the SQL query returned no rows")
    write_table(frame, out)
    return ScoreInput(out, "SQL query", 0)
