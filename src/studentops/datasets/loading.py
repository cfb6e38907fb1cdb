"""Reading tables: CSV (sniffed delimiter, detected encoding, quotes, CRLF), Parquet, or SQL.

Every value is read as it is written (CSV as text) so that validation, not the reader, decides
what is a wrong type: a reader that guesses dtypes silently turns "12a" into a missing value.
"""

from __future__ import annotations

import codecs
import csv
import io
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


# Encodings tried when a file is not UTF-8: what spreadsheets on Windows and older SIS exports
# write in Western Europe and the Americas (cp1252 is a superset of Latin-1's printable range).
LEGACY_ENCODINGS = ("cp1252", "latin_1", "cp1250", "iso8859_15", "mac_roman")


def detect_encoding(sample: bytes) -> tuple[str, bool]:
    """The encoding of a file from its first bytes: (codec name, sure).

    Sure for a byte order mark (UTF-8, UTF-16), for UTF-16 without one (every other byte
    zero in ASCII text) and for valid UTF-8; otherwise charset-normalizer's best legacy guess,
    reported to the user as a guess.
    """
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", True
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", True
    head = sample[:4096]
    if len(head) >= 4 and head.count(0) >= len(head) // 3:
        return ("utf-16-le" if head[1] == 0 else "utf-16-be"), True
    try:
        sample.decode("utf-8")
        return "utf-8", True
    except UnicodeDecodeError as exc:
        if exc.start >= len(sample) - 3:  # a character cut at the end of the sample
            return "utf-8", True
    from charset_normalizer import from_bytes

    best = from_bytes(sample, cp_isolation=list(LEGACY_ENCODINGS)).best()
    if best is None:
        return "cp1252", False
    try:  # where both read the bytes alike, say the encoding Windows spreadsheets write
        if sample.decode("cp1252") == str(best):
            return "cp1252", False
    except UnicodeDecodeError:
        pass
    return best.encoding, False


def _undecodable(origin: str, encoding: str, exc: UnicodeDecodeError, data: bytes) -> DataError:
    guess, _ = detect_encoding(data)
    hint = guess if guess.replace("-sig", "") != encoding.replace("-sig", "") else "cp1252"
    return DataError(
        f"{origin}: not valid {encoding} text (byte {exc.start}); "
        f"try --encoding {hint} (or formats.encoding in the profile)"
    )


def decode_text(data: bytes, origin: str, encoding: str | None = None) -> tuple[str, list[str]]:
    """Bytes of a text file as str: the declared encoding, else the detected one.

    Returns:
        (text, notes): notes say when the encoding was guessed, for the validation summary.

    Raises:
        DataError: the bytes are not valid in the declared encoding (naming one to try).
    """
    notes: list[str] = []
    if encoding is None:
        encoding, sure = detect_encoding(data[: 1024 * 1024])
        if not sure:
            notes.append(
                f"file is not UTF-8: read as {encoding} (a guess; declare --encoding or "
                "formats.encoding if accented names look wrong)"
            )
    try:
        codecs.lookup(encoding)
    except LookupError as exc:
        raise DataError(f"unknown encoding {encoding!r}") from exc
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise _undecodable(origin, encoding, exc, data) from None
    return text.removeprefix("\ufeff"), notes


def parse_csv_text(text: str, origin: str, sep: str | None = None) -> pd.DataFrame:
    """CSV text as a frame of text cells (validation decides types), delimiter sniffed.

    Raises:
        DataError: the text is empty or not well-formed CSV with the delimiter.
    """
    if not text.strip():
        raise DataError(f"{origin}: the file is empty")
    delimiter = sep or sniff_delimiter(text[: 64 * 1024])
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            skipinitialspace=False,
        )
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{origin}: the file is empty") from exc
    except (pd.errors.ParserError, csv.Error) as exc:
        detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
        raise DataError(
            f"{origin}: not a well-formed CSV with delimiter {delimiter!r} ({detail})"
        ) from exc
    frame.columns = clean_header(frame.columns)
    return frame


def read_csv(path: Path, sep: str | None = None, encoding: str | None = None) -> pd.DataFrame:
    """Read a CSV file in any of the encodings schools' systems write (see :func:`decode_text`).

    The frame's ``attrs["read_notes"]`` holds what the reader guessed, for the summary.

    Raises:
        DataError: the file cannot be read, or its text is not CSV (see :func:`parse_csv_text`).
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from exc
    text, notes = decode_text(data, str(path), encoding)
    frame = parse_csv_text(text, str(path), sep)
    frame.attrs["read_notes"] = notes
    frame.attrs["sep"] = sep or sniff_delimiter(text[: 64 * 1024])
    return frame


def read_parquet(path: Path) -> pd.DataFrame:
    """Read a Parquet file with its header cleaned like a CSV's.

    Raises:
        DataError: the file is not readable Parquet (pyarrow raises many types; one line here).
    """
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types for a bad file
        raise DataError(f"{path}: not a readable Parquet file ({exc.__class__.__name__})") from exc
    frame.columns = clean_header(frame.columns)
    return frame


def read_sql(url: str, query: str) -> pd.DataFrame:
    """Run a query through SQLAlchemy (any database it has a driver for).

    Raises:
        DataError: the database cannot be reached or the query fails (one line, no traceback).
    """
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


def read_table(
    path: str | Path, sep: str | None = None, encoding: str | None = None
) -> pd.DataFrame:
    """Read a CSV or Parquet file by its extension; a problem is one clear DataError.

    ``encoding`` applies to CSV (default: detected, see :func:`detect_encoding`).

    Raises:
        DataError: the file is missing, a folder, unreadable, or holds no data rows.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"file not found: {p}")
    if p.is_dir():
        raise DataError(f"{p}: is a folder, not a file")
    frame = (
        read_parquet(p) if p.suffix.lower() in (".parquet", ".pq") else read_csv(p, sep, encoding)
    )
    if frame.empty:
        raise DataError(f"{p}: no data rows")
    return frame
