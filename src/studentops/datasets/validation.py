"""Row-level validation against a profile, with nothing lost.

Every input row ends up either in ``valid`` (typed, ready for features) or in ``rejects`` with
its row number, column, value and reason; accepted + rejected always equals the input rows.
File-level problems (a required column missing, no target, a wrong delimiter) raise DataError,
because no row could be judged.

The checks are vectorised per column (no per-row Python), so a million rows validate in seconds.
We use our own checks rather than pandera: we need every failing cell with a reason we word
ourselves, keep-the-first semantics for duplicate ids, and profile-driven coercion in one pass.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from studentops.config import Settings, load_settings
from studentops.datasets.contract import (
    Rule,
    file_formats,
    judge_column,
    missing_mask,
    profile_rules,
)
from studentops.datasets.profile import Profile
from studentops.errors import DataError, ProfileError

REJECT_COLUMNS = ["row", "column", "value", "reason"]


@dataclass
class ValidationResult:
    """The outcome of validating one table."""

    valid: pd.DataFrame
    rejects: pd.DataFrame
    total: int
    warnings: list[str] = field(default_factory=list)
    skipped: int = 0

    @property
    def accepted(self) -> int:
        """Number of rows accepted (rows of ``valid``)."""
        return len(self.valid)

    @property
    def rejected(self) -> int:
        """Number of rows rejected (distinct rows in ``rejects``; a row may have several bad
        cells)."""
        return int(self.rejects["row"].nunique()) if len(self.rejects) else 0

    @property
    def reasons(self) -> Counter[str]:
        """Rejected cells by kind of reason (the text before any parenthesis)."""
        kinds = self.rejects["reason"].str.split(" \\(", regex=True).str[0]
        return Counter(kinds.tolist())

    def summary(self) -> dict[str, Any]:
        """The counts, reasons by kind (most common first) and warnings, as plain JSON values."""
        return {
            "rows": self.total,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "skipped": self.skipped,
            "reasons": dict(self.reasons.most_common()),
            "warnings": list(self.warnings),
        }


def _reject_frame(
    rows: np.ndarray, column: str, values: pd.Series, reason: str | np.ndarray
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row": rows + 1,
            "column": column,
            "value": values.astype("string").fillna("").to_numpy(),
            "reason": reason,
        }
    )


class _Checker:
    """Collects rejected cells while the contract converts columns to their profile types.

    ``positions`` are the rows' places in the file as read (skipped header rows keep theirs),
    so a reject's row number is the one a person finds in the file.
    """

    def __init__(self, frame: pd.DataFrame, positions: np.ndarray) -> None:
        self.frame = frame
        self.positions = positions
        self.parts: list[pd.DataFrame] = []

    def reject(self, mask: pd.Series | np.ndarray, column: str, reason: str | np.ndarray) -> None:
        m = np.asarray(mask, dtype=bool)
        if m.any():
            raw = self.frame[column] if column in self.frame else pd.Series([""] * len(m))
            why = reason[m] if isinstance(reason, np.ndarray) else reason
            self.parts.append(
                _reject_frame(self.positions[m], column, raw[m].reset_index(drop=True), why)
            )

    def judge(self, name: str, rule: Rule, warnings: list[str]) -> pd.Series:
        verdict = judge_column(self.frame[name], rule)
        reasons = verdict.reasons.to_numpy(dtype=object)
        self.reject(pd.notna(reasons), name, reasons)
        if verdict.folded:
            raw, value = verdict.fold_example or ("", "")
            warnings.append(
                f"{name}: {verdict.folded} value(s) matched a category only after folding case "
                f"and spaces (e.g. {raw!r} -> {value!r})"
            )
        return verdict.values


def skipped_rows(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Positions of rows that repeat the header and of rows with no value at all.

    Two exports appended into one file carry the header again mid-file; such a row is no
    student, and its cells must never become a category or a class.
    """
    if frame.empty or not len(frame.columns):
        return np.array([], int), np.array([], int)
    # Only rows whose first cell is the first header (or blank) can be either: check those.
    first = frame[frame.columns[0]].astype("string").str.strip()
    name = str(frame.columns[0]).strip().casefold()
    maybe_header = np.flatnonzero(first.str.casefold().eq(name).fillna(False).to_numpy())
    maybe_blank = np.flatnonzero(first.fillna("").eq("").to_numpy())

    def all_cells(rows: np.ndarray, test: Any) -> np.ndarray:
        if not len(rows):
            return rows
        part = frame.iloc[rows].astype("string")
        ok = np.ones(len(rows), dtype=bool)
        for col in part.columns:
            ok &= test(part[col].str.strip(), col)
        return rows[ok]

    headers = all_cells(
        maybe_header,
        lambda v, col: v.str.casefold().eq(str(col).strip().casefold()).fillna(False).to_numpy(),
    )
    blanks = all_cells(maybe_blank, lambda v, col: v.fillna("").eq("").to_numpy())
    return headers, blanks


def required_columns(profile: Profile) -> list[str]:
    """Columns every file must have: the non-nullable profile columns.

    The target, its source and the leak columns are never required here: data to score lacks
    them, and :func:`check_shape` checks the target separately when training needs it.
    """
    skip = {profile.target.column, *profile.leaks}
    if profile.target_source:
        skip.add(profile.target_source)
    return [name for name, col in profile.columns.items() if not col.nullable and name not in skip]


def check_shape(frame: pd.DataFrame, profile: Profile, require_target: bool) -> list[str]:
    """File-level checks; returns warnings, raises DataError for what makes rows unjudgeable."""
    warnings: list[str] = []
    needed = required_columns(profile)
    absent = [c for c in needed if c not in frame.columns]
    if absent and len(frame.columns) == 1 and len(profile.columns) > 1:
        raise DataError(
            f"found a single column {str(frame.columns[0])[:60]!r}: wrong delimiter? "
            "(give it with --sep)"
        )
    if absent:
        shown = ", ".join(absent[:5]) + (f" and {len(absent) - 5} more" if len(absent) > 5 else "")
        raise DataError(f"missing required column(s): {shown}")
    if require_target:
        t = profile.target
        has_target = t.column in frame.columns or (
            t.derive is not None and t.derive.source in frame.columns
        )
        if not has_target:
            raise DataError(f"no target: column '{t.column}' is missing")
    extra = [c for c in frame.columns if c not in profile.columns]
    if extra:
        warnings.append(
            f"{len(extra)} column(s) not in the profile, ignored: {', '.join(extra[:5])}"
        )
    # Data to score rightly lacks the target, its source and the leaks: no warning for those.
    outcome = {profile.target.column, profile.target_source, *profile.leaks}
    optional_absent = [
        c
        for c in profile.columns
        if c not in frame.columns and c not in needed and c not in outcome
    ]
    if optional_absent:
        warnings.append(
            f"optional column(s) absent, treated as missing: {', '.join(optional_absent[:5])}"
        )
    return warnings


def validate(
    frame: pd.DataFrame, profile: Profile, require_target: bool = True
) -> ValidationResult:
    """Check every row of ``frame`` against ``profile`` through the data contract.

    Args:
        frame: the table as read (values may still be text).
        profile: the dataset profile.
        require_target: training needs a target; scoring does not.

    Returns:
        A ValidationResult whose ``valid`` frame has profile types (numbers as float, categories
        as the profile's category values, ids as text) and keeps the input's row positions as
        its index. Rows that repeat the header or hold nothing are skipped and reported
        (``skipped``), never judged as students.
    """
    warnings = list(frame.attrs.get("read_notes", []))
    warnings += check_shape(frame, profile, require_target)
    frame = frame.reset_index(drop=True)
    headers, blanks = skipped_rows(frame)
    skip = np.zeros(len(frame), dtype=bool)
    skip[headers] = True
    skip[blanks] = True
    if len(headers):
        shown = ", ".join(str(p + 2) for p in headers[:5])  # +2: header line, 1-based
        warnings.append(f"{len(headers)} repeated header row(s) skipped (file line {shown})")
    if len(blanks):
        warnings.append(f"{len(blanks)} empty row(s) skipped")
    positions = np.flatnonzero(~skip)
    kept = frame.iloc[positions]
    checker = _Checker(kept, positions)
    # The id column is an id whatever type it is declared with: text, exactly as written.
    # Target, its source and leaks are judged by the target check (training) or not at all.
    target_cols = {profile.target.column, *profile.leaks}
    if profile.target_source:
        target_cols.add(profile.target_source)
    formats, note = file_formats(frame, profile)
    if note:
        warnings.append(note)
    rules = profile_rules(profile, formats=formats)
    out: dict[str, pd.Series] = {}
    for name, rule in rules.items():
        if name not in kept.columns:
            out[name] = pd.Series([None] * len(kept), dtype=object, index=kept.index)
            continue
        if name in target_cols:
            rule = replace(rule, required=False)
        out[name] = checker.judge(name, rule, warnings)
    typed = pd.DataFrame(out, index=kept.index)

    if require_target:
        _check_target(typed, kept, profile, checker)
    if profile.id and profile.id in kept.columns:
        ids = typed[profile.id].astype("string")
        dup = ids.duplicated(keep="first") & ids.notna()
        if dup.any():
            first_pos = pd.Series(positions, index=ids.index).groupby(ids).transform("min")
            for i in np.flatnonzero(dup.to_numpy()):
                checker.parts.append(
                    _reject_frame(
                        positions[[i]],
                        profile.id,
                        kept[profile.id].iloc[[i]].reset_index(drop=True),
                        f"duplicate id (first at row {int(first_pos.iloc[i]) + 1})",
                    )
                )

    rejects = (
        pd.concat(checker.parts, ignore_index=True).sort_values(["row", "column"], kind="stable")
        if checker.parts
        else pd.DataFrame(columns=REJECT_COLUMNS)
    ).reset_index(drop=True)
    bad_positions = rejects["row"].to_numpy(dtype=int) - 1 if len(rejects) else np.array([], int)
    keep = np.ones(len(frame), dtype=bool)
    keep[bad_positions] = False
    valid = typed[keep[positions]]
    result = ValidationResult(
        valid=valid,
        rejects=rejects,
        total=len(kept),
        warnings=warnings,
        skipped=int(skip.sum()),
    )
    assert result.accepted + result.rejected == result.total, "validation lost rows"
    return result


def _check_target(
    typed: pd.DataFrame, raw: pd.DataFrame, profile: Profile, checker: _Checker
) -> None:
    """Reject rows whose target is missing or not a known class (including derived targets)."""
    t = profile.target
    column = t.column if t.column in raw.columns else (t.derive.source if t.derive else t.column)
    # The target column may be absent (derived from its source) or not declared in the
    # profile (a derived target needs only its source declared): judge it as read.
    frame = typed.drop(columns=t.column, errors="ignore")
    if t.column in raw.columns:
        frame[t.column] = typed[t.column] if t.column in typed.columns else raw[t.column]
    try:
        target = profile.target_values(frame)
    except ProfileError as exc:
        raise DataError(str(exc)) from exc
    raw_missing = missing_mask(raw[column], profile.formats)
    target_missing = pd.Series(target, index=typed.index).isna()
    # A cell already rejected for its own type or category is not reported twice.
    if column in typed.columns:
        already = typed[column].isna() & ~raw_missing
    else:
        already = pd.Series(False, index=typed.index)
    checker.reject(target_missing & raw_missing, column, "missing target")
    checker.reject(target_missing & ~raw_missing & ~already, column, "unknown target class")


def default_data_path(profile: Profile, settings: Settings) -> Path:
    """A built-in profile's seed file under settings.data_dir.

    Raises:
        DataError: the profile names no seed file (``source``): the user must give ``--data``.
    """
    if profile.source is None:
        raise DataError(f"profile '{profile.name}' names no default data: give --data")
    return settings.data_dir / profile.source.file


def validate_file(
    profile: Profile | str,
    path: str | Path | None,
    *,
    sep: str | None = None,
    require_target: bool = True,
    settings: Settings | None = None,
    encoding: str | None = None,
) -> tuple[Profile, ValidationResult]:
    """Load a profile (by name, path or object) and a file, and validate every row.

    The profile's own delimiter is used for its default file when none is given; the encoding
    is ``encoding``, else the profile's ``formats.encoding``, else detected.
    """
    from studentops.datasets.loading import read_table
    from studentops.datasets.profile import resolve_profile

    settings = settings or load_settings()
    prof = resolve_profile(profile, settings)
    path = Path(path) if path is not None else default_data_path(prof, settings)
    if sep is None and prof.source and prof.source.sep and Path(path).name == prof.source.file:
        sep = prof.source.sep
    frame = read_table(path, sep, encoding or prof.formats.encoding)
    return prof, validate(frame, prof, require_target=require_target)


def write_rejects(
    result: ValidationResult,
    profile_name: str,
    settings: Settings | None = None,
    path: Path | None = None,
) -> Path | None:
    """Write rejected cells to CSV (default under home/rejects).

    Returns:
        The path written, or None when nothing was rejected (no empty file is left behind).
    """
    if not len(result.rejects):
        return None
    if path is None:
        settings = settings or load_settings()
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        path = settings.ensure_home() / "rejects" / f"{profile_name}-{stamp}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    result.rejects.to_csv(path, index=False)
    return path
