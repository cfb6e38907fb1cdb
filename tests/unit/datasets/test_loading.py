from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from studentops.datasets.loading import read_sql, read_table
from studentops.errors import DataError


def test_bom_crlf_semicolon_quotes_and_tab_in_header(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes('\ufeffa;"b\t";c\r\n1;"x; y";2.5\r\n3;z;\r\n'.encode())
    frame = read_table(path)
    assert list(frame.columns) == ["a", "b", "c"]
    assert frame["b"].tolist() == ["x; y", "z"]
    assert frame["c"].isna().tolist() == [False, True]


def test_values_stay_text_so_validation_decides(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("age\n17\nseventeen\n")
    assert read_table(path)["age"].tolist() == ["17", "seventeen"]


def test_explicit_delimiter(tmp_path: Path) -> None:
    path = tmp_path / "d.txt"
    path.write_text("a|b\n1|2\n")
    assert list(read_table(path, sep="|").columns) == ["a", "b"]


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"a,b\n", "no data rows"), (b"\xff\xfea\x00,\x00b\x00", "no data rows")],
)
def test_file_level_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        read_table(path)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        read_table(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="is a folder"):
        read_table(tmp_path)


def test_parquet_and_bad_parquet(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    pd.DataFrame({"a": [1, 2]}).to_parquet(path)
    assert read_table(path)["a"].tolist() == [1, 2]
    bad = tmp_path / "bad.parquet"
    bad.write_text("nope")
    with pytest.raises(DataError, match="not a readable Parquet"):
        read_table(bad)


def test_sql_query(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    from sqlalchemy import create_engine

    pd.DataFrame({"a": [1, 2, 3]}).to_sql("t", create_engine(url), index=False)
    assert read_sql(url, "select a from t where a > 1")["a"].tolist() == [2, 3]
    with pytest.raises(DataError, match="SQL query failed"):
        read_sql(url, "select nope from t")
