"""How an institution writes its cells: decimal mark, thousands separator, percent, NA tokens,
dates and encoding (the profile's ``formats`` key).

Kept apart from :mod:`studentops.datasets.contract` so that the profile model can declare its
``formats`` without importing the contract that judges cells against the profile (issue 11: no
import loops).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Cells that mean "no value", compared case-insensitively after stripping spaces. The Excel
# error values are what a formula leaves when its inputs are missing.
DEFAULT_NA_TOKENS = (
    "na",
    "n/a",
    "n.a.",
    "nan",
    "null",
    "none",
    "-",
    "--",
    "?",
    "#n/a",
    "#na",
    "#div/0!",
    "#value!",
    "#ref!",
    "#name?",
    "#num!",
    "#null!",
)


class Formats(BaseModel):
    """How an institution writes its cells (profile key ``formats``); defaults suit most exports.

    Attributes:
        decimal: decimal mark of numbers, ``.`` or ``,`` (``5,4`` in a European export).
        thousands: thousands separator, or none (default: a separator is a reject, so
            ``1,234`` is never silently read as 1.234 or 1234).
        percent: ``85%`` reads as 85 (``number``) or as 0.85 (``fraction``).
        na_tokens: extra cell texts that mean missing, added to the defaults.
        default_na: use :data:`DEFAULT_NA_TOKENS` as well (switch off when ``-`` is a value).
        date_format: a ``strptime`` format for dates that are not ISO 8601 (``%d/%m/%Y``).
        excel_dates: read numbers in a date column as Excel day numbers.
        encoding: the files' text encoding (default: detected; see docs/data.md).
    """

    model_config = ConfigDict(extra="forbid")

    decimal: Literal[".", ","] = "."
    thousands: Literal[",", ".", " ", "'"] | None = None
    percent: Literal["number", "fraction"] = "number"
    na_tokens: list[str] = Field(default_factory=list)
    default_na: bool = True
    date_format: str | None = None
    excel_dates: bool = True
    encoding: str | None = None

    @model_validator(mode="after")
    def _check(self) -> Formats:
        if self.thousands == self.decimal:
            raise ValueError(f"thousands separator and decimal mark are both {self.decimal!r}")
        return self

    def na_set(self) -> frozenset[str]:
        """The NA tokens, stripped and case-folded: the defaults (if ``default_na``) plus
        ``na_tokens``."""
        base = set(DEFAULT_NA_TOKENS) if self.default_na else set()
        return frozenset(base | {t.strip().casefold() for t in self.na_tokens})

    def number_pattern(self) -> re.Pattern[str]:
        """The whole-cell pattern of a number in these formats (shared by every path)."""
        d = re.escape(self.decimal)
        if self.thousands:
            t = re.escape(self.thousands)
            whole = rf"(?:\d{{1,3}}(?:{t}\d{{3}})+|\d+)"
        else:
            whole = r"\d+"
        return re.compile(rf"[+-]?(?:{whole}(?:{d}\d*)?|{d}\d+)(?:[eE][+-]?\d+)?")
