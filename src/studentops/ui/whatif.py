"""One student: risk, band, the reasons behind it, and what-if changes to the levers.

A lever is a feature a student or a school can change (attendance, study time, tutoring).
Sensitive attributes (gender, ethnicity ...) are never offered as levers, and
:func:`what_if` refuses a change to one: asking "would this student be safer if they were
another gender" is not a question the dashboard helps with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from studentops.datasets.profile import Profile, category_key
from studentops.errors import DataError
from studentops.ui.risklist import MIN_POINTS, REASON_UNIT, class_text, reason_points, value_text

if TYPE_CHECKING:
    from studentops.serving.predictor import Predictor


@dataclass(frozen=True)
class Lever:
    """One field of the what-if form.

    ``kind`` is ``number`` (with ``low``/``high`` bounds and ``step``) or ``choice`` (with
    ``options``: the stored values, and ``labels``: their words)."""

    name: str
    kind: str
    description: str | None = None
    low: float | None = None
    high: float | None = None
    step: float = 1.0
    options: list[Any] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)

    def label_of(self, option: Any) -> str:
        """The words for one of ``options``."""
        return self.labels[self.options.index(option)]


@dataclass(frozen=True)
class WhatIf:
    """The risk before and after a change (risk as 0..1; ``delta_points`` in percentage points)."""

    before: float
    after: float
    band_before: str | None
    band_after: str | None
    predicted_before: str
    predicted_after: str

    @property
    def delta_points(self) -> float:
        """The change in risk in percentage points (``after - before`` times 100)."""
        return 100.0 * (self.after - self.before)


def levers(profile: Profile, features: list[str]) -> list[Lever]:
    """The what-if fields: the model's features, minus sensitive attributes, in profile order."""
    out = []
    sensitive = set(profile.sensitive)
    for name in features:
        if name in sensitive:
            continue
        col = profile.columns[name]
        if col.type in ("category", "boolean"):
            options: list[Any] = list(col.categories or [False, True])
            labels = [value_text(profile, name, v) for v in options]
            out.append(Lever(name, "choice", col.description, options=options, labels=labels))
        elif col.type in ("integer", "number"):
            step = 1.0 if col.type == "integer" else 0.5
            out.append(Lever(name, "number", col.description, col.min, col.max, step))
    return out


def find_student(table: pd.DataFrame, student: str) -> pd.Series | None:
    """The row of ``student`` (as shown in the list's ``student`` column), or None."""
    hits = table.index[table["student"].astype(str) == str(student)]
    return table.loc[hits[0]] if len(hits) else None


def student_record(row: pd.Series, features: list[str]) -> dict[str, Any]:
    """The model's inputs of one student (missing values as None)."""
    record = {}
    for name in features:
        value = row.get(name)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            value = None
        elif hasattr(value, "item"):
            value = value.item()
        record[name] = value
    return record


def assess(predictor: Predictor, record: dict[str, Any], top_k: int = 6) -> dict[str, Any]:
    """Risk, band, predicted class and reasons of one student.

    Returns:
        ``{"risk": 0..1, "band", "predicted", "reasons": {"units", "up", "down"}}``.

    Raises:
        RecordsInvalid: a value breaks the profile (the field is named).
    """
    records, _ = predictor.validate(record)
    answer = predictor.predict_records(records, explain=True, top_k=top_k)[0]
    return {
        "risk": answer["risk_score"],
        "band": answer["risk_band"],
        "predicted": class_text(predictor.profile, answer["prediction"]),
        "reasons": answer["reasons"],
    }


def reasons_frame(profile: Profile, reasons: dict[str, Any]) -> pd.DataFrame:
    """Reasons as rows for a chart: ``reason`` (feature = value in words), ``points``
    (percentage points of risk; positive pushes the risk up) and ``effect`` (in words),
    largest effect first."""
    units = str(reasons.get("units", REASON_UNIT))
    rows = []
    for item in [*reasons.get("up", []), *reasons.get("down", [])]:
        feature = str(item.get("feature"))
        shown = item.get("label") or value_text(profile, feature, item.get("value"))
        points = reason_points(item, units)
        if abs(points) < MIN_POINTS:
            continue
        rows.append(
            {
                "reason": f"{feature} = {shown}",
                "points": round(points, 2),
                "effect": "raises the risk" if points > 0 else "lowers the risk",
            }
        )
    frame = pd.DataFrame(rows, columns=["reason", "points", "effect"])
    return frame.reindex(frame["points"].abs().sort_values(ascending=False).index).reset_index(
        drop=True
    )


def what_if(predictor: Predictor, record: dict[str, Any], changes: dict[str, Any]) -> WhatIf:
    """Score the student as is and with ``changes`` applied.

    Raises:
        DataError: a change names a sensitive attribute or a column the model does not use.
        RecordsInvalid: a changed value breaks the profile.
    """
    profile = predictor.profile
    for name in changes:
        if name in profile.sensitive:
            raise DataError(f"{name} is a sensitive attribute: it is not a lever")
        if name not in predictor.features:
            raise DataError(f"{name} is not one of the model's inputs")
    changed = {**record, **changes}
    records, _ = predictor.validate([record, changed])
    before, after = predictor.predict_records(records)
    return WhatIf(
        before=float(before["risk_score"]),
        after=float(after["risk_score"]),
        band_before=before["risk_band"],
        band_after=after["risk_band"],
        predicted_before=class_text(profile, before["prediction"]),
        predicted_after=class_text(profile, after["prediction"]),
    )


def same_value(a: Any, b: Any) -> bool:
    """Whether a form value equals the stored one (1, 1.0 and "1" alike)."""
    if a is None or b is None:
        return a is None and b is None
    return category_key(a) == category_key(b)
