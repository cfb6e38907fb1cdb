"""The data contract cell by cell: numbers in any declared format, NA tokens, booleans,
folded categories, dates and Excel day numbers, ids."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studentops.datasets.contract import Formats, Rule, fold
from studentops.datasets.profile import parse_profile
from studentops.errors import ProfileError

FORMATS = st.sampled_from(
    [
        Formats(),
        Formats(decimal=","),
        Formats(decimal=".", thousands=","),
        Formats(decimal=",", thousands="."),
        Formats(decimal=",", thousands=" "),
        Formats(decimal=".", thousands="'"),
    ]
)


def write(number: float, fmt: Formats, group: bool) -> str:
    """``number`` as a spreadsheet in locale ``fmt`` writes it (two decimals)."""
    whole, frac = f"{abs(number):.2f}".split(".")
    if group and fmt.thousands:
        whole = f"{int(whole):,}".replace(",", fmt.thousands)
    return ("-" if number < 0 else "") + whole + fmt.decimal + frac


@settings(max_examples=300, deadline=None)
@given(
    number=st.floats(min_value=-1e9, max_value=1e9, allow_nan=False),
    fmt=FORMATS,
    group=st.booleans(),
)
def test_numbers_round_trip_in_every_declared_format(
    number: float, fmt: Formats, group: bool
) -> None:
    rule = Rule("x", "number", required=True, formats=fmt)
    text = write(number, fmt, group)
    verdict = rule(f"  {text} ")
    assert verdict.reject is None, (text, verdict)
    assert verdict.value == pytest.approx(round(number, 2), abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(whole=st.integers(min_value=1000, max_value=10**9), fmt=FORMATS)
def test_a_separator_the_profile_did_not_declare_is_refused(whole: int, fmt: Formats) -> None:
    """1,234 is never silently 1.234 or 1234: only the declared separators are read."""
    rule = Rule("x", "number", required=True, formats=fmt)
    for sep in (",", ".", " ", "'", "_"):
        if sep in (fmt.decimal, fmt.thousands):
            continue
        text = f"{whole:,}".replace(",", sep)
        assert rule(text).reject is not None, text


@settings(max_examples=200, deadline=None)
@given(
    digits=st.text(alphabet="0123456789", min_size=2, max_size=8),
    cut=st.integers(min_value=1, max_value=7),
)
def test_underscores_are_never_digits(digits: str, cut: int) -> None:
    """Python's float('1_5') is 15; the contract refuses it whatever the other cells hold."""
    cut = min(cut, len(digits) - 1)
    text = digits[:cut] + "_" + digits[cut:]
    for fmt in (Formats(), Formats(decimal=",", thousands=".")):
        assert Rule("x", "number", True, fmt)(text).reject is not None


@given(value=st.floats(allow_nan=True, allow_infinity=True))
def test_floats_are_finite_numbers_or_missing(value: float) -> None:
    verdict = Rule("x", "number", required=False, formats=Formats())(value)
    if math.isnan(value):
        assert verdict.value is None and verdict.reject is None
    elif math.isinf(value):
        assert verdict.reject is not None and verdict.reject.kind == "wrong type"
    else:
        assert verdict.value == value


@pytest.mark.parametrize(
    "token", ["N/A", "n/a", " NA ", "-", "#N/A", "#DIV/0!", "#VALUE!", "#REF!", "null", "NaN"]
)
def test_na_tokens_are_missing(token: str) -> None:
    required = Rule("x", "number", required=True, formats=Formats())
    optional = Rule("x", "number", required=False, formats=Formats())
    assert optional(token).value is None and optional(token).reject is None
    assert required(token).reject is not None and required(token).reject.kind == "missing"


def test_a_profile_names_its_own_na_tokens_and_may_drop_the_defaults() -> None:
    fmt = Formats(na_tokens=["not sat", "ABS"], default_na=False)
    rule = Rule("x", "number", required=False, formats=fmt)
    assert rule("abs").value is None and rule("Not Sat").value is None
    assert rule("-").reject is not None  # '-' is a value here, not a token


def test_percent_is_read_as_declared() -> None:
    assert Rule("x", "number", False, Formats())("85 %").value == 85
    assert Rule("x", "number", False, Formats(percent="fraction"))("85%").value == 0.85


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, 1.0), ("no", 0.0), ("T", 1.0), (" Y ", 1.0), (0, 0.0), ("0.0", 0.0), ("FALSE", 0.0)],
)
def test_booleans(value: object, expected: float) -> None:
    assert Rule("b", "boolean", True, Formats())(value).value == expected


@pytest.mark.parametrize("value", [2, -1, 0.5, "maybe", "oui?", [1]])
def test_not_booleans(value: object) -> None:
    assert Rule("b", "boolean", True, Formats())(value).reject is not None


def test_categories_fold_case_and_spaces_and_say_so() -> None:
    rule = Rule("c", "category", True, Formats(), categories=["Full time", "Part time", 3])
    assert rule("Full time") == (rule("Full time").value, None, False)
    folded = rule("  PART   time ")
    assert folded.value == "Part time" and folded.folded
    assert rule("3.0").value == 3 and rule(3.0).value == 3
    assert rule("part-time").reject is not None
    assert rule(True).reject is not None
    assert fold("  A \t b ") == "a b"


def test_categories_that_fold_alike_match_only_exactly() -> None:
    rule = Rule("c", "category", True, Formats(), categories=["x y", "X Y"])
    assert rule("X Y").value == "X Y" and rule("x y").value == "x y"
    assert rule("x  Y").reject is not None  # ambiguous once folded


def test_dates_iso_declared_and_excel_day_numbers() -> None:
    rule = Rule("d", "datetime", True, Formats())
    assert rule("2025-02-03").value == dt.datetime(2025, 2, 3)
    assert rule("2025-02-03T10:30:00Z").value == dt.datetime(2025, 2, 3, 10, 30)
    assert rule(45_000).value == dt.datetime(2023, 3, 15)  # Excel: days since 1899-12-30
    assert rule("45000").value == dt.datetime(2023, 3, 15)
    assert rule("03/02/2025").reject is not None  # ambiguous without a declared format
    dmy = Rule("d", "datetime", True, Formats(date_format="%d/%m/%Y"))
    assert dmy("03/02/2025").value == dt.datetime(2025, 2, 3)
    for far in ("9999-12-31", "1066-10-14", 10**7):
        verdict = rule(far)
        assert verdict.reject is not None and verdict.reject.kind == "out of range", far
    assert Rule("d", "datetime", True, Formats(excel_dates=False))(45_000).reject is not None


def test_ids_are_text_exactly_as_written() -> None:
    rule = Rule("id", "id", True, Formats())
    assert rule("000712").value == "000712"
    assert rule(712).value == "712"
    assert rule(True).reject is not None
    assert rule("  ").reject is not None and rule("  ").reject.kind == "missing"


def test_formats_in_a_profile() -> None:
    base = {
        "name": "f",
        "columns": {"x": {"type": "number"}, "y": {"type": "category", "categories": [1, 2]}},
        "target": {"column": "y", "task": "binary", "positive": 1},
    }
    prof = parse_profile(base | {"formats": {"decimal": ",", "na_tokens": ["?"]}})
    assert prof.formats.decimal == ","
    with pytest.raises(ProfileError, match="formats"):
        parse_profile(base | {"formats": {"decimal": ",", "thousands": ","}})
    with pytest.raises(ProfileError, match="formats"):
        parse_profile(base | {"formats": {"decimel": ","}})
