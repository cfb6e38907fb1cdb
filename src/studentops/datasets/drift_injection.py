"""Drift scenarios for synthetic cohorts: parse ``COLUMN:CHANGE`` specs and apply them.

Monitoring demos and load tests need cohorts that differ from the reference in a known way.
A spec names one column and one change:

* ``Absences:+40%`` / ``Absences:-10%`` multiplies a numeric column (by 1.4 / 0.9);
* ``Absences:+5`` / ``Absences:-2.5`` adds to it; both are clipped to the profile's range;
* ``Gender:mix=0:0.8,1:0.2`` sets the share of categories (``0:80%`` works too); categories
  left out share what remains in their original proportions;
* ``StudyTimeWeekly:missing=30%`` blanks that fraction of values (on a column that may not be
  missing this makes rows that validation rejects, on purpose).

Parsing needs no profile (so a CLI can parse early); :func:`check_drift` then checks a drift
against a profile. Both raise :class:`DriftError` with a one-line message.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

from studentops.datasets.profile import Profile, category_key
from studentops.errors import StudentOpsError

DriftKind = Literal["add", "scale", "mix", "missing"]

EXAMPLES = "e.g. Absences:+40%, Absences:+5, Gender:mix=0:0.8,1:0.2, StudyTimeWeekly:missing=30%"
_NUMBER = r"\d+(?:\.\d*)?|\.\d+"
_SHIFT = re.compile(r"^(?P<sign>[+-])\s*(?P<num>.*?)\s*(?P<pct>%?)$")
_CHANGE_START = re.compile(r"^\s*(?:[+-]|mix\s*=|missing\s*=)", re.IGNORECASE)


class DriftError(StudentOpsError):
    """A drift spec is malformed or does not fit the profile."""


@dataclass(frozen=True)
class Drift:
    """One change to a generated cohort.

    ``amount`` is what is added (add), the factor (scale) or the fraction blanked (missing);
    ``shares`` pairs a category key with its share (mix).
    """

    spec: str
    column: str
    kind: DriftKind
    amount: float = 0.0
    shares: tuple[tuple[str, float], ...] = ()


def _number(text: str, spec: str) -> float:
    text = text.strip()
    if not re.fullmatch(_NUMBER, text):
        raise DriftError(f"drift {spec!r}: bad number {text!r} ({EXAMPLES})")
    return float(text)


def _fraction(text: str, spec: str, what: str) -> float:
    """A share written as 0.3 or 30%."""
    text = text.strip()
    pct = text.endswith("%")
    value = _number(text.removesuffix("%"), spec) / (100 if pct else 1)
    if not 0 <= value <= 1:
        raise DriftError(f"drift {spec!r}: {what} must be between 0 and 1 (or 0% and 100%)")
    return value


def _parse_change(column: str, change: str, spec: str) -> Drift:
    key, _, rest = change.partition("=")
    key = key.strip().lower()
    if key == "missing" and rest:
        return Drift(spec, column, "missing", amount=_fraction(rest, spec, "missing fraction"))
    if key == "mix" and rest:
        shares: list[tuple[str, float]] = []
        for item in rest.split(","):
            cat, sep, share = item.rpartition(":")
            if not sep or not cat.strip():
                raise DriftError(f"drift {spec!r}: mix needs CATEGORY:SHARE pairs ({EXAMPLES})")
            shares.append((category_key(cat.strip()), _fraction(share, spec, "a share")))
        keys = [k for k, _ in shares]
        if len(set(keys)) != len(keys):
            raise DriftError(f"drift {spec!r}: a category is given twice")
        total = sum(s for _, s in shares)
        if total > 1 + 1e-6:
            raise DriftError(f"drift {spec!r}: shares add up to {total:g}, more than 1")
        return Drift(spec, column, "mix", shares=tuple(shares))
    match = _SHIFT.match(change.strip())
    if match is None:
        raise DriftError(f"drift {spec!r}: unknown change {change.strip()!r} ({EXAMPLES})")
    value = _number(match["num"], spec) * (-1 if match["sign"] == "-" else 1)
    if match["pct"]:
        if value < -100:
            raise DriftError(f"drift {spec!r}: a change below -100% would flip the sign")
        return Drift(spec, column, "scale", amount=1 + value / 100)
    return Drift(spec, column, "add", amount=value)


def parse_drift(spec: str, profile: Profile | None = None) -> Drift:
    """Parse ``COLUMN:CHANGE``; with a profile, also check it fits (see :func:`check_drift`).

    The column is everything before the first ``:`` that starts a change, so column names may
    contain colons; with a profile, a known column name wins.

    Raises:
        DriftError: ``spec`` is not ``COLUMN:CHANGE`` or its change is malformed, or (with a
            profile) it does not fit the profile (see :func:`check_drift`).
    """
    text = spec.strip()
    cuts = [m.start() for m in re.finditer(":", text)]
    candidates = [i for i in cuts if _CHANGE_START.match(text[i + 1 :]) and text[:i].strip()]
    if profile is not None:
        known = [i for i in candidates if text[:i].strip() in profile.columns]
        candidates = known or candidates
    if not candidates:
        raise DriftError(f"drift {spec!r}: expected COLUMN:CHANGE ({EXAMPLES})")
    cut = candidates[0]
    drift = _parse_change(text[:cut].strip(), text[cut + 1 :], spec)
    return check_drift(drift, profile) if profile is not None else drift


def check_drift(drift: Drift, profile: Profile) -> Drift:
    """Check that a drift names a column of the profile and suits its type.

    Raises:
        DriftError: an unknown column or category, a shift of a non-numeric, id or derived
            column, ``mix=`` on a column without categories, or shares that add up to more than 1.
    """
    spec, name = drift.spec, drift.column
    column = profile.columns.get(name)
    if column is None:
        raise DriftError(f"drift {spec!r}: unknown column {name!r} (profile {profile.name})")
    derive = profile.target.derive
    if drift.kind in ("add", "scale"):
        if column.type not in ("integer", "number"):
            raise DriftError(
                f"drift {spec!r}: {name!r} is a {column.type} column; only numeric columns "
                "shift (use mix= for categories)"
            )
        if name == profile.id:
            raise DriftError(f"drift {spec!r}: {name!r} is the id column")
    if drift.kind == "mix":
        if column.type == "boolean":
            known = ["false", "true"]
        elif column.type == "category":
            known = column.category_keys
        else:
            raise DriftError(
                f"drift {spec!r}: {name!r} is a {column.type} column; mix= needs categories"
            )
        if derive is not None and name == profile.target.column:
            raise DriftError(
                f"drift {spec!r}: {name!r} is derived from {derive.source!r}; shift that instead"
            )
        for key, _ in drift.shares:
            if key not in known:
                raise DriftError(
                    f"drift {spec!r}: unknown category {key!r} of {name!r} "
                    f"(known: {', '.join(known[:12])}{', ...' if len(known) > 12 else ''})"
                )
        if len(drift.shares) == len(known):
            total = sum(s for _, s in drift.shares)
            if abs(total - 1) > 1e-3:
                raise DriftError(
                    f"drift {spec!r}: shares of all categories add up to {total:g}, not 1"
                )
    return drift


def shift_values(
    values: np.ndarray, drift: Drift, low: float | None, high: float | None, decimals: int
) -> np.ndarray:
    """Add or scale numeric values, round them as the column is written, clip to the range."""
    out = values + drift.amount if drift.kind == "add" else values * drift.amount
    out = np.round(out, decimals)
    if low is not None or high is not None:
        lo = -math.inf if low is None else low
        hi = math.inf if high is None else high
        out = np.clip(out, lo, hi)
    return out


def mix_shares(keys: list[str], probs: np.ndarray, drift: Drift) -> np.ndarray:
    """New category shares: the given ones, the rest spread in their original proportions."""
    given = dict(drift.shares)
    out = np.array([given.get(k, 0.0) for k in keys], dtype=float)
    rest = np.array([k not in given for k in keys])
    remainder = max(0.0, 1.0 - out.sum())
    if rest.any() and remainder > 0:
        base = np.where(rest, probs, 0.0)
        out += remainder * (base / base.sum() if base.sum() > 0 else rest / rest.sum())
    return out / out.sum()


def missing_mask(rows: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Rows to blank, chosen at random (missing completely at random)."""
    return rng.random(rows) < fraction
