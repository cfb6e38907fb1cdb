"""The data contract: how one raw cell becomes a typed value, or a reject with a reason.

Every path that takes student data in (``validate``, the encoder, ``score``, the API's pydantic
models and CSV endpoint, the stream worker, the logged MLflow pyfunc) asks this module, so the
same value gets the same verdict everywhere. The rules, per column type:

* **number / integer**: text is read with the profile's ``formats`` (decimal mark, thousands
  separator, percent sign); anything else in the cell is a reject, never a guess: ``1_5`` (Python
  would read 15), ``5,5`` when the decimal mark is ``.``, ``inf``, ``1e400`` and booleans
  (``true`` is not a number). An integer column rejects fractions.
* **missing**: None, NaN, blank text and the NA tokens (spreadsheet error values such as
  ``#N/A`` and ``#DIV/0!``, ``N/A``, ``-``, ``NA``, ...; a profile adds its own).
* **boolean**: ``true/false``, ``yes/no``, ``y/n``, ``t/f``, ``1/0`` in any case, JSON booleans
  and the numbers 0 and 1; ``2`` or ``maybe`` are rejects.
* **category**: the profile's value written exactly (``1``, ``1.0`` and ``"1"`` are one category),
  else after *folding*: surrounding spaces removed, inner runs of spaces made one, case ignored
  (``str.casefold``). A fold is counted so validation can report it.
* **datetime**: date/time objects, ISO 8601 text (or ``formats.date_format``), and Excel day
  numbers (days since 1899-12-30, the 1900 date system) when ``formats.excel_dates`` is on;
  dates outside 1900-01-01 .. 2199-12-31 are rejects (pandas cannot even hold year 9999).
* **id**: text, exactly as written (``001001`` stays ``001001``); whole numbers become their
  digits; never range-checked or converted.

A verdict is a :class:`Verdict`: the typed value (``None`` when missing) or a :class:`Reject`
whose ``kind`` is one of missing / wrong type / out of range / unknown category.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np

from studentops.datasets.formats import Formats
from studentops.datasets.profile import Column, Profile, category_key

if TYPE_CHECKING:
    import pandas as pd

TRUE_TEXT = frozenset({"true", "t", "yes", "y", "1", "1.0"})
FALSE_TEXT = frozenset({"false", "f", "no", "n", "0", "0.0"})
EXCEL_EPOCH = dt.datetime(1899, 12, 30)
EARLIEST = dt.datetime(1900, 1, 1)
LATEST = dt.datetime(2199, 12, 31, 23, 59, 59)
_SPACES = re.compile(r"\s+")

Kind = Literal["missing", "wrong type", "out of range", "unknown category"]


class Reject(NamedTuple):
    """Why a cell was refused: ``kind`` (missing, wrong type, ...) and the full reason text."""

    kind: Kind
    reason: str


class Verdict(NamedTuple):
    """A cell's fate: ``value`` (None when missing) or ``reject``; ``folded`` when a category
    matched only after folding case and spaces."""

    value: Any
    reject: Reject | None = None
    folded: bool = False


MISSING = Verdict(None)
REQUIRED = Reject("missing", "missing required value")


def fold(text: str) -> str:
    """The one folding rule of category text: trim, collapse inner spaces, ignore case."""
    return _SPACES.sub(" ", text.strip()).casefold()


def _category_key(value: Any) -> str:
    return category_key(value)


@dataclass
class Rule:
    """The compiled contract of one column: call it with a raw cell, get a :class:`Verdict`."""

    name: str
    type: str
    required: bool
    formats: Formats
    minimum: float | None = None
    maximum: float | None = None
    categories: list[Any] | None = None

    def __post_init__(self) -> None:
        self.na = self.formats.na_set()
        self.pattern = self.formats.number_pattern()
        self._exact: dict[str, Any] = {}
        self._folded: dict[str, Any] = {}
        self._numeric_cats = False
        if self.categories is not None:
            cats = list(self.categories)
            self._numeric_cats = bool(cats) and all(
                isinstance(c, int | float) and not isinstance(c, bool) for c in cats
            )
            clash: set[str] = set()
            for c in cats:
                self._exact[_category_key(c)] = c
                key = fold(str(_category_key(c)))
                if key in self._folded and self._folded[key] != c:
                    clash.add(key)
                self._folded[key] = c
            for key in clash:  # two categories that fold alike match only exactly
                del self._folded[key]
        self.judge: Callable[[Any], Verdict] = {
            "number": self._number,
            "integer": self._integer,
            "boolean": self._boolean,
            "category": self._category,
            "datetime": self._datetime,
            "id": self._id,
        }.get(self.type, self._text)

    def __call__(self, value: Any) -> Verdict:
        """Judge one cell (same as :meth:`judge`)."""
        return self.judge(value)

    # -- missing -------------------------------------------------------------------------

    def is_missing(self, value: Any) -> bool:
        """None, NaN, NA, blank text or an NA token."""
        if value is None:
            return True
        if isinstance(value, float | np.floating):
            return math.isnan(value)
        if isinstance(value, str):
            text = value.strip()
            return not text or text.casefold() in self.na
        return _is_pandas_na(value)

    def _missing(self) -> Verdict:
        return Verdict(None, REQUIRED) if self.required else MISSING

    # -- numbers -------------------------------------------------------------------------

    def parse_number(self, value: Any) -> float | Reject | None:
        """A number cell as float, None when missing, or a Reject (no range check)."""
        if value is None:
            return None
        if isinstance(value, bool | np.bool_):
            return Reject("wrong type", f"wrong type (expected {self.type}, got a boolean)")
        if isinstance(value, int | np.integer):
            try:
                return float(value)
            except OverflowError:
                return Reject("out of range", "out of range (too large)")
        if isinstance(value, float | np.floating):
            if math.isnan(value):
                return None
            if math.isinf(value):
                return Reject("wrong type", "wrong type (not a finite number)")
            return float(value)
        if isinstance(value, str):
            text = value.strip()
            if not text or text.casefold() in self.na:
                return None
            return self.parse_number_text(text)
        if _is_pandas_na(value):
            return None
        return Reject("wrong type", f"wrong type (expected {self.type})")

    def parse_number_text(self, text: str) -> float | Reject:
        """Parse a number written in these formats (thousands separators, decimal mark, percent).

        A trailing ``%`` divides by 100 when ``percent`` is ``fraction``. Returns the float, or a
        :class:`Reject` ("wrong type", with a hint at the likely format) when the text is no number.
        """
        fmt = self.formats
        scale = 1.0
        if text.endswith("%"):
            text = text[:-1].rstrip()
            scale = 0.01 if fmt.percent == "fraction" else 1.0
        if not self.pattern.fullmatch(text):
            return Reject("wrong type", self._number_hint(text))
        if fmt.thousands:
            text = text.replace(fmt.thousands, "")
        if fmt.decimal != ".":
            text = text.replace(fmt.decimal, ".")
        number = float(text) * scale
        if math.isinf(number):
            return Reject("out of range", "out of range (too large)")
        return number

    def _number_hint(self, text: str) -> str:
        expected = f"wrong type (expected {self.type}"
        other = "," if self.formats.decimal == "." else "."
        if re.fullmatch(rf"[+-]?\d+{re.escape(other)}\d+", text):
            return f"{expected}; decimal mark is {self.formats.decimal!r}: set formats.decimal)"
        if text.casefold() in TRUE_TEXT | FALSE_TEXT:
            return f"{expected}, got a boolean)"
        return expected + ")"

    def _in_range(self, number: float) -> Verdict:
        if self.minimum is not None and number < self.minimum:
            return Verdict(None, Reject("out of range", f"out of range (min {self.minimum:g})"))
        if self.maximum is not None and number > self.maximum:
            return Verdict(None, Reject("out of range", f"out of range (max {self.maximum:g})"))
        return Verdict(number)

    def _number(self, value: Any) -> Verdict:
        parsed = self.parse_number(value)
        if parsed is None:
            return self._missing()
        if isinstance(parsed, Reject):
            return Verdict(None, parsed)
        return self._in_range(parsed)

    def _integer(self, value: Any) -> Verdict:
        parsed = self.parse_number(value)
        if parsed is None:
            return self._missing()
        if isinstance(parsed, Reject):
            return Verdict(None, parsed)
        if not parsed.is_integer():
            return Verdict(None, Reject("wrong type", "wrong type (expected integer)"))
        verdict = self._in_range(parsed)
        return verdict if verdict.reject else Verdict(int(parsed))

    # -- booleans, categories, dates, ids --------------------------------------------------

    def _boolean(self, value: Any) -> Verdict:
        if isinstance(value, bool | np.bool_):
            return Verdict(1.0 if value else 0.0)
        if isinstance(value, int | float | np.integer | np.floating):
            if isinstance(value, float | np.floating) and math.isnan(value):
                return self._missing()
            if value in (0, 1):
                return Verdict(float(value))
            return Verdict(None, Reject("wrong type", "wrong type (expected boolean)"))
        if isinstance(value, str):
            key = value.strip().casefold()
            if key in TRUE_TEXT:
                return Verdict(1.0)
            if key in FALSE_TEXT:
                return Verdict(0.0)
        if self.is_missing(value):
            return self._missing()
        return Verdict(None, Reject("wrong type", "wrong type (expected boolean)"))

    def _category(self, value: Any) -> Verdict:
        if isinstance(value, list | dict | set | tuple):
            return Verdict(None, Reject("wrong type", "wrong type (expected a category value)"))
        if isinstance(value, bool | np.bool_) and not any(
            isinstance(c, bool) for c in self.categories or []
        ):
            return Verdict(None, Reject("wrong type", "wrong type (expected a category value)"))
        if not isinstance(value, str) and self.is_missing(value):
            return self._missing()
        # A listed category wins over an NA token, also after folding: a profile that lists
        # ``none`` among the categories (``test_preparation_course: none | completed``) reads
        # ``none`` and ``None`` as that category, never as missing (see docs/data.md).
        key = _category_key(value)
        if key in self._exact:
            return Verdict(self._exact[key])
        if isinstance(value, str):
            folded = fold(value)
            if folded in self._folded:
                return Verdict(self._folded[folded], folded=True)
            if self.is_missing(value):
                return self._missing()
            if self._numeric_cats:
                number = self.parse_number_text(value.strip())
                if isinstance(number, float):
                    hit = self._exact.get(_category_key(number))
                    if hit is not None:
                        return Verdict(hit)
        return Verdict(None, Reject("unknown category", "unknown category"))

    def _datetime(self, value: Any) -> Verdict:
        stamp: dt.datetime | None = None
        if isinstance(value, dt.datetime):
            stamp = value
        elif isinstance(value, dt.date):
            stamp = dt.datetime(value.year, value.month, value.day)
        elif isinstance(value, np.datetime64):
            if np.isnat(value):
                return self._missing()
            stamp = _from_datetime64(value)
        elif self.is_missing(value):
            return self._missing()
        elif isinstance(value, bool | np.bool_):
            return Verdict(None, Reject("wrong type", "wrong type (expected date/time)"))
        elif isinstance(value, int | float | np.integer | np.floating):
            return self._excel(float(value))
        elif isinstance(value, str):
            text = value.strip()
            if self.pattern.fullmatch(text):
                number = self.parse_number_text(text)
                return (
                    self._excel(number)
                    if isinstance(number, float)
                    else Verdict(None, Reject("wrong type", "wrong type (expected date/time)"))
                )
            try:
                if self.formats.date_format:
                    stamp = dt.datetime.strptime(text, self.formats.date_format)
                else:
                    stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                shown = self.formats.date_format or "ISO 8601, e.g. 2024-09-30"
                return Verdict(
                    None, Reject("wrong type", f"wrong type (expected date/time as {shown})")
                )
        else:
            return Verdict(None, Reject("wrong type", "wrong type (expected date/time)"))
        if stamp.tzinfo is not None:
            stamp = stamp.astimezone(dt.UTC).replace(tzinfo=None)
        if not EARLIEST <= stamp <= LATEST:
            return Verdict(None, Reject("out of range", "out of range (date not in 1900..2199)"))
        return Verdict(stamp)

    def _excel(self, number: float) -> Verdict:
        if not self.formats.excel_dates:
            return Verdict(None, Reject("wrong type", "wrong type (expected date/time)"))
        if not math.isfinite(number) or not 1 <= number <= 109_574:  # 1900-01-01 .. 2199-12-31
            return Verdict(None, Reject("out of range", "out of range (not an Excel day number)"))
        return Verdict(EXCEL_EPOCH + dt.timedelta(days=number))

    def _id(self, value: Any) -> Verdict:
        if isinstance(value, str):
            return self._missing() if not value.strip() else Verdict(value.strip())
        if isinstance(value, bool | np.bool_):
            return Verdict(None, Reject("wrong type", "wrong type (expected a text id)"))
        if isinstance(value, int | np.integer):
            return Verdict(str(int(value)))
        if isinstance(value, float | np.floating):
            if math.isnan(value):
                return self._missing()
            if value.is_integer():
                return Verdict(str(int(value)))
        if value is None or _is_pandas_na(value):
            return self._missing()
        return Verdict(None, Reject("wrong type", "wrong type (expected a text id)"))

    def _text(self, value: Any) -> Verdict:
        if self.is_missing(value):
            return self._missing()
        return Verdict(value if isinstance(value, str) else str(value))


def _is_pandas_na(value: Any) -> bool:
    try:
        import pandas as pd

        return value is pd.NA or value is pd.NaT
    except ImportError:  # pragma: no cover
        return False


def _from_datetime64(value: np.datetime64) -> dt.datetime:
    seconds = value.astype("datetime64[us]").astype(np.int64) / 1e6
    return dt.datetime(1970, 1, 1) + dt.timedelta(seconds=float(seconds))


def column_rule(
    name: str,
    column: Column,
    formats: Formats,
    *,
    required: bool | None = None,
    is_id: bool = False,
) -> Rule:
    """The :class:`Rule` of one profile column (``is_id``: the profile's id column)."""
    return Rule(
        name=name,
        type="id" if is_id else column.type,
        required=(not column.nullable) if required is None else required,
        formats=formats,
        minimum=None if is_id else column.min,
        maximum=None if is_id else column.max,
        categories=None if is_id else column.categories,
    )


def profile_rules(
    profile: Profile, columns: list[str] | None = None, formats: Formats | None = None
) -> dict[str, Rule]:
    """Rules of the profile's columns (all, or ``columns``), the id column as an id."""
    names = columns if columns is not None else list(profile.columns)
    fmt = formats or profile.formats
    return {
        name: column_rule(name, profile.columns[name], fmt, is_id=name == profile.id)
        for name in names
    }


_COMMA_DECIMAL = re.compile(r"[+-]?\d+,\d+")
_POINT_DECIMAL = re.compile(r"[+-]?\d*\.\d+")


def file_formats(frame: pd.DataFrame, profile: Profile) -> tuple[Formats, str | None]:
    """The formats to read one file with: the profile's, with the decimal mark found in the
    file when the profile leaves it unset (see :func:`detect_decimal`)."""
    numeric = [c for c, col in profile.columns.items() if col.type in ("number", "integer")]
    return detect_decimal(frame, numeric, profile.formats)


def detect_decimal(
    frame: pd.DataFrame, columns: list[str], formats: Formats
) -> tuple[Formats, str | None]:
    """``formats`` with decimal mark ``,`` when a ``;``-separated file's ``columns`` hold
    ``5,4`` and never ``5.4`` (how spreadsheets in comma-decimal locales export CSV) and the
    profile did not declare the mark. Returns the formats and a note for the summary (None
    when nothing was guessed)."""
    if "decimal" in formats.model_fields_set or frame.attrs.get("sep") != ";":
        return formats, None
    comma = point = 0
    for name in columns:
        if name not in frame.columns:
            continue
        text = frame[name].dropna().astype(str).str.strip().head(5000)
        comma += int(text.str.fullmatch(_COMMA_DECIMAL.pattern).sum())
        point += int(text.str.fullmatch(_POINT_DECIMAL.pattern).sum())
    if comma and not point:
        note = (
            "decimal mark ',' found in this ';'-separated file: read 5,4 as 5.4 "
            "(declare formats.decimal in the profile to make it explicit)"
        )
        return formats.model_copy(update={"decimal": ","}), note
    return formats, None


def missing_mask(values: pd.Series, formats: Formats) -> pd.Series:
    """True where a cell is missing by the contract (NaN, blank or an NA token)."""
    text = values.astype("string").str.strip()
    mask = text.isna() | text.eq("") | text.str.casefold().isin(formats.na_set())
    return mask.fillna(True).astype(bool)


# -- whole columns (validation, the pyfunc, the encoder's DataFrame path) ---------------------


@dataclass
class ColumnVerdict:
    """A judged column: typed values, reject reasons (None where accepted) and folds."""

    values: pd.Series
    reasons: pd.Series
    folded: int
    fold_example: tuple[str, Any] | None = None


def judge_column(values: pd.Series, rule: Rule) -> ColumnVerdict:
    """Apply ``rule`` to every cell of a column, each distinct value once.

    Clean number columns (already float, or text that all matches the number pattern) take a
    vectorised path with exactly the scalar rule's outcome; the rest goes value by value.
    """
    import pandas as pd

    if rule.type in ("number", "integer"):
        fast = _numbers_fast(values, rule)
        if fast is not None:
            return fast
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    verdicts = [rule(u) for u in uniques]
    missing = rule(None)
    typed = np.array([v.value for v in verdicts] + [missing.value], dtype=object)
    reasons = np.array(
        [v.reject.reason if v.reject else None for v in verdicts]
        + [missing.reject.reason if missing.reject else None],
        dtype=object,
    )
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    folded = 0
    example = None
    for i, v in enumerate(verdicts):
        if v.folded:
            folded += int(counts[i])
            example = example or (str(uniques[i]), v.value)
    out_values = pd.Series(typed[codes], index=values.index, dtype=object)
    if rule.type in ("number", "integer", "boolean"):
        out_values = out_values.astype(float)
    elif rule.type == "datetime":
        out_values = pd.to_datetime(out_values)
    return ColumnVerdict(
        out_values, pd.Series(reasons[codes], index=values.index, dtype=object), folded, example
    )


def _numbers_fast(values: pd.Series, rule: Rule) -> ColumnVerdict | None:
    import pandas as pd

    if pd.api.types.is_bool_dtype(values.dtype):
        return None
    if pd.api.types.is_numeric_dtype(values.dtype):
        numbers = values.astype(float)
        if np.isinf(numbers.to_numpy()).any():
            return None
    elif values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
        text = values.astype("string").str.strip()
        blank = text.isna() | text.eq("").fillna(True) | text.str.casefold().isin(rule.na)
        plain = text.str.fullmatch(rule.pattern.pattern).fillna(False).astype(bool)
        if not (plain | blank).all():
            return None
        text = text.where(~blank, None)
        if rule.formats.thousands:
            text = text.str.replace(rule.formats.thousands, "", regex=False)
        if rule.formats.decimal != ".":
            text = text.str.replace(rule.formats.decimal, ".", regex=False)
        numbers = text.astype(float)
        if np.isinf(numbers.to_numpy(dtype=float, na_value=np.nan)).any():
            return None
    else:
        return None
    numbers = numbers.astype(float)
    arr = numbers.to_numpy(dtype=float, na_value=np.nan)
    reasons = np.full(len(arr), None, dtype=object)
    missing = np.isnan(arr)
    if rule.required:
        reasons[missing] = REQUIRED.reason
    present = ~missing
    if rule.type == "integer":
        bad = present & (np.mod(arr, 1, where=present, out=np.zeros_like(arr)) != 0)
        reasons[bad & (reasons == None)] = "wrong type (expected integer)"  # noqa: E711
    if rule.minimum is not None:
        low = present & (arr < rule.minimum) & (reasons == None)  # noqa: E711
        reasons[low] = f"out of range (min {rule.minimum:g})"
    if rule.maximum is not None:
        high = present & (arr > rule.maximum) & (reasons == None)  # noqa: E711
        reasons[high] = f"out of range (max {rule.maximum:g})"
    typed = np.where(reasons == None, arr, np.nan)  # noqa: E711
    return ColumnVerdict(
        pd.Series(typed, index=values.index, dtype=float),
        pd.Series(reasons, index=values.index, dtype=object),
        0,
    )
