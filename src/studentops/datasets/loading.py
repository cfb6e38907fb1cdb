"""Reading tables: CSV (sniffed delimiter, BOM, quotes, CRLF), Parquet, or a SQL query.

Every value is read as it is written (CSV as text) so that validation, not the reader, decides
what is a wrong type: a reader that guesses dtypes silently turns "12a" into a missing value.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from studentops.errors import DataError

DELIMITERS = ",;\t|"


def sniff_delimiter(sample: str) -> str:
    """Pick the delimiter from the first lines; falls back to the most frequent candidate."""
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        header = sample.splitlines()[0] if sample else ""
        counts = {d: header.count(d) for d in DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def clean_header(columns: pd.Index) -> list[str]:
    """Strip stray whitespace (a tab in a UCI header) and BOM remnants from column names."""
    return [str(c).replace("\ufeff", "").strip() for c in columns]


def read_csv(path: Path, sep: str | None = None) -> pd.DataFrame:
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as fh:
            sample = fh.read(64 * 1024)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from exc
    if not sample.strip():
        raise DataError(f"{path}: the file is empty")
    delimiter = sep or sniff_delimiter(sample)
    try:
        frame = pd.read_csv(
            path,
            sep=delimiter,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            encoding="utf-8-sig",
            skipinitialspace=False,
        )
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path}: the file is empty") from exc
    except pd.errors.ParserError as exc:
        detail = str(exc).strip().splitlines()[-1]
        raise DataError(
            f"{path}: not a well-formed CSV with delimiter {delimiter!r} ({detail})"
        ) from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text") from exc
    frame.columns = clean_header(frame.columns)
    return frame


def read_parquet(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types for a bad file
        raise DataError(f"{path}: not a readable Parquet file ({exc.__class__.__name__})") from exc
    frame.columns = clean_header(frame.columns)
    return frame


def read_sql(url: str, query: str) -> pd.DataFrame:
    """Run a query through SQLAlchemy (any database it has a driver for)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError

    try:
        engine = create_engine(url)
        with engine.connect() as conn:
            frame = pd.read_sql_query(text(query), conn)
    except (SQLAlchemyError, pd.errors.DatabaseError) as exc:
        cause = exc.__cause__ or exc
        detail = str(getattr(cause, "orig", None) or cause).splitlines()[0]
        raise DataError(f"SQL query failed: {detail}") from exc
    frame.columns = clean_header(frame.columns)
    return frame


def read_table(path: str | Path, sep: str | None = None) -> pd.DataFrame:
    """Read a CSV or Parquet file by its extension; a problem is one clear DataError."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"file not found: {p}")
    if p.is_dir():
        raise DataError(f"{p}: is a folder, not a file")
    frame = read_parquet(p) if p.suffix.lower() in (".parquet", ".pq") else read_csv(p, sep)
    if frame.empty:
        raise DataError(f"{p}: no data rows")
    return frame
