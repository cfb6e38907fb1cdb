"""Draft a profile for a new dataset: types, ranges, categories, a candidate id and target.

The draft is a starting point a person edits, so it errs on the side of saying what it saw
(observed categories, ranges widened to round numbers) and marks every guess in the output.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd

from studentops.datasets.loading import read_table
from studentops.datasets.profile import Profile, parse_profile

MAX_CATEGORIES = 30
ID_NAME = re.compile(r"(^id$|_id$|^id_|id$|number$|^matricula)", re.IGNORECASE)
TARGET_NAME = re.compile(
    r"(target|outcome|result|label|class|status|grade|pass|dropout|score)", re.IGNORECASE
)


def _round_out(value: float, up: bool) -> float:
    """Widen an observed bound to a round number so a draft does not reject tomorrow's data."""
    if value == 0 or not math.isfinite(value):
        return 0.0
    magnitude = 10 ** math.floor(math.log10(abs(value)))
    step = magnitude if abs(value) >= 10 else max(magnitude, 1.0)
    return float((math.ceil if up else math.floor)(value / step) * step)


def infer_column(values: pd.Series) -> dict[str, Any]:
    """Guess one column's spec from its values (read as text)."""
    present = values.dropna()
    present = present[present.astype(str).str.strip() != ""]
    spec: dict[str, Any] = {}
    if len(present) < len(values):
        spec["nullable"] = True
    if present.empty:
        return {"type": "text", "nullable": True}
    numeric = pd.to_numeric(present.astype(str).str.strip(), errors="coerce")
    unique = present.astype(str).str.strip().unique()
    if numeric.notna().all():
        integral = bool((numeric % 1 == 0).all())
        if integral and len(unique) <= min(MAX_CATEGORIES, 10):
            cats = sorted({int(v) for v in numeric})
            return {"type": "category", "categories": cats, **spec}
        lo, hi = float(numeric.min()), float(numeric.max())
        spec.update(
            {
                "type": "integer" if integral else "number",
                # Non-negative data (counts, scores, hours) gets 0 as its floor.
                "min": 0.0 if lo >= 0 else _round_out(lo, up=False),
                "max": _round_out(hi, up=True),
            }
        )
        return spec
    lowered = {str(u).lower() for u in unique}
    if lowered <= {"true", "false", "yes", "no", "y", "n", "t", "f"} and len(lowered) <= 2:
        return {"type": "boolean", **spec}
    if len(unique) <= MAX_CATEGORIES or len(unique) <= 0.05 * len(present):
        return {"type": "category", "categories": sorted(str(u) for u in unique), **spec}
    parsed = pd.to_datetime(present, errors="coerce", format="mixed")
    if parsed.notna().mean() > 0.95:
        return {"type": "datetime", **spec}
    return {"type": "text", **spec}


def guess_id(frame: pd.DataFrame) -> str | None:
    """A column named like an id whose values are all present and unique."""
    for name in frame.columns:
        col = frame[name]
        if ID_NAME.search(str(name)) and col.notna().all() and col.is_unique:
            return str(name)
    return None


def guess_target(frame: pd.DataFrame, specs: dict[str, dict[str, Any]], id_col: str | None) -> str:
    """A column named like an outcome, else the last column that is not the id."""
    candidates = [c for c in frame.columns if c != id_col and specs[c]["type"] != "text"]
    named = [c for c in candidates if TARGET_NAME.search(str(c))]
    return str((named or candidates or list(frame.columns))[-1])


def infer_profile(frame: pd.DataFrame, name: str, target: str | None = None) -> Profile:
    """Draft a profile for ``frame``; ``target`` overrides the guess."""
    specs = {str(c): infer_column(frame[c]) for c in frame.columns}
    id_col = guess_id(frame)
    if id_col:
        specs[id_col] = {"type": "text"} if specs[id_col]["type"] == "category" else specs[id_col]
        specs[id_col].pop("nullable", None)
    target_col = target or guess_target(frame, specs, id_col)
    tspec = specs[target_col]
    if tspec["type"] in ("integer", "number"):
        target_def: dict[str, Any] = {"column": target_col, "task": "regression"}
    else:
        cats = tspec.get("categories") or sorted(frame[target_col].dropna().astype(str).unique())
        if tspec["type"] == "boolean":
            tspec.update(
                {"type": "category", "categories": sorted(frame[target_col].dropna().unique())}
            )
            cats = tspec["categories"]
        task = "binary" if len(cats) == 2 else "multiclass"
        target_def = {"column": target_col, "task": task}
        if task == "binary":
            target_def["positive"] = cats[-1]
    tspec.pop("nullable", None)
    data = {"name": name, "id": id_col, "columns": specs, "target": target_def}
    if id_col is None:
        data.pop("id")
    return parse_profile(_jsonable(data), origin="inferred profile")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def infer_profile_from_file(
    path: str, name: str, sep: str | None = None, target: str | None = None
) -> Profile:
    frame = read_table(path, sep)
    return infer_profile(frame, name=name, target=target)
