"""Risk lists a counselor can act on: score a table, rank it, say why, filter, count, save.

A scored list is one DataFrame: the input rows that passed validation, ranked by risk, with
display columns in front (``rank``, ``student``, ``predicted``, ``risk_pct``, ``band``,
``why``). Reasons are computed at scoring time for the ``reasons_rows`` students at highest
risk (SHAP costs far more than scoring), so showing a saved list of 10,000 students needs no
model at all: it is one Parquet read. Lists are kept under
``<home>/dashboard/<profile>/batches/`` with a JSON file of what scored them.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from studentops.config import Settings
from studentops.datasets.profile import Profile, category_key
from studentops.errors import DataError

if TYPE_CHECKING:
    from studentops.serving.predictor import Predictor

BANDS = ("high", "medium", "low")
BAND_WORDS = {"high": "high risk", "medium": "medium risk", "low": "low risk"}
REASON_UNIT = "percentage points of risk"
DISPLAY = ("rank", "student", "predicted", "risk_pct", "band", "why")
MIN_POINTS = 0.05  # a reason that rounds to 0.0 points says nothing
MAX_GROUPS = 50  # a column with more distinct values is an id, not a group


@dataclass
class ListInfo:
    """What a saved list is: which model scored what, when, and how many rows were refused."""

    profile: str
    model_name: str | None
    model_version: str | None
    scored_at: float
    rows: int
    accepted: int
    rejected: int
    explained: int
    source: str
    reasons_unit: str = REASON_UNIT
    band_rule: str = ""
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The info as plain values (saved as JSON beside the list)."""
        return asdict(self)


@dataclass
class RiskList:
    """A ranked list and what made it (``rejects``: one row per refused cell, with reason)."""

    table: pd.DataFrame
    info: ListInfo
    rejects: pd.DataFrame | None = None


# -- values in words ---------------------------------------------------------------------------


def value_text(profile: Profile, column: str, value: Any) -> str:
    """A cell as a counselor reads it: the category's label, or a rounded number."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "missing"
    col = profile.columns.get(column)
    if col is not None and col.labels:
        key = category_key(value)
        for k, label in col.labels.items():
            if category_key(k) == key:
                return str(label)
    if isinstance(value, str) and col is not None and col.type in ("integer", "number"):
        try:
            value = float(value)
        except ValueError:
            return value
    if isinstance(value, float | np.floating):
        v = float(value)
        return str(int(v)) if v.is_integer() else f"{v:.1f}"
    return str(value)


def class_text(profile: Profile, value: Any) -> str:
    """A predicted class by its label (``F`` rather than ``4``)."""
    labels = profile.target.labels or {}
    key = category_key(value)
    for k, label in labels.items():
        if category_key(k) == key:
            return str(label)
    return category_key(value) if value is not None else ""


def reason_points(item: dict[str, Any], units: str = REASON_UNIT) -> float:
    """A reason's contribution in percentage points of risk.

    Explanations name their unit: "percentage points of risk" (used as is), or "risk" (a
    probability, from models explained before the unit was named: times 100); any other unit
    (a regression without a risk) is returned as is."""
    value = float(item.get("contribution", 0.0))
    return 100.0 * value if units == "risk" else value


def in_points(units: str) -> bool:
    """Whether contributions in ``units`` are shown as percentage points of risk."""
    return units == "risk" or units == REASON_UNIT


def reasons_text(
    profile: Profile, reasons: dict[str, Any], top_k: int = 3, *, with_down: bool = False
) -> str:
    """'Absences 28 (+2.0 pts); Study time 1.4 (+0.4 pts)': what pushed the risk up most."""
    units = str(reasons.get("units", REASON_UNIT))
    suffix = " pts" if in_points(units) else ""
    sides = [reasons.get("up", [])[:top_k]]
    if with_down:
        sides.append(reasons.get("down", [])[:top_k])
    parts = []
    for side in sides:
        for item in side:
            if abs(reason_points(item, units)) < MIN_POINTS:
                continue
            feature = str(item.get("feature"))
            shown = item.get("label") or value_text(profile, feature, item.get("value"))
            parts.append(f"{feature} {shown} ({reason_points(item, units):+.1f}{suffix})")
    return "; ".join(parts)


# -- scoring -----------------------------------------------------------------------------------


def student_column(frame: pd.DataFrame, profile: Profile) -> str | None:
    """The column naming students in ``frame``: ``student_id``, else the profile's id, else None."""
    for name in ("student_id", profile.id):
        if name and name in frame.columns:
            return name
    return None


def score_table(
    predictor: Predictor,
    frame: pd.DataFrame,
    *,
    reasons_rows: int = 500,
    source: str = "upload",
    log_to: Settings | None = None,
) -> RiskList:
    """Validate, score and rank ``frame``; explain the ``reasons_rows`` highest risks.

    Args:
        predictor: the champion's Predictor (``serving.batch.load_predictor``).
        frame: student rows in the profile's columns (a target column is ignored).
        reasons_rows: students (from the top) whose reasons are computed; 0 for none.
        source: shown with the list (a file name).
        log_to: append the predictions to these settings' prediction log (source
            ``dashboard``), as every other channel does; None logs nothing.

    Returns:
        A RiskList: the ranked table (display columns first, then the input columns,
        probabilities and ``risk_score``) and its ListInfo; refused rows in ``rejects``.

    Raises:
        DataError: when no row passes validation (the reasons of the first refusals named).
    """
    from studentops.serving.batch import score_frame

    profile = predictor.profile
    scored, result, scores = score_frame(predictor, frame)
    if not len(scored):
        top = ", ".join(f"{r} ({n})" for r, n in result.reasons.most_common(3)) or "no rows"
        raise DataError(f"no student could be scored: all {result.total} rows refused ({top})")
    id_col = student_column(scored, profile)
    student = scored[id_col].astype(str) if id_col else (scored.index + 1).astype(str)
    why = np.full(len(scored), "", dtype=object)
    explained = min(max(int(reasons_rows), 0), len(scored))
    if explained:
        records = scored.head(explained)[predictor.features].to_dict("records")
        for i, reasons in enumerate(predictor.explain(records, 3)):
            why[i] = reasons_text(profile, reasons)
    risk = scored["risk_score"].to_numpy(dtype=float)
    front = pd.DataFrame(
        {
            "rank": scored["rank"].to_numpy(dtype=np.int64),
            "student": student.to_numpy(),
            "predicted": [class_text(profile, v) for v in scored["prediction"].tolist()],
            "risk_pct": np.round(risk * 100.0, 1),
            "band": scored["risk_band"].astype(object).to_numpy(),
            "why": why,
        }
    )
    if "band_reason" in scored.columns:  # why a student is not in the band the decision says
        notes = scored["band_reason"].astype(object).where(scored["band_reason"].notna(), "")
        front["band_note"] = notes.to_numpy()
    rest = scored.drop(columns=[c for c in DISPLAY if c in scored.columns])
    # A CSV is read as text; rows that passed validation hold numbers where the profile says.
    numeric = [
        c
        for c, col in profile.columns.items()
        if c in rest.columns
        and col.type in ("integer", "number")
        and not pd.api.types.is_numeric_dtype(rest[c])
    ]
    for name in numeric:
        rest[name] = pd.to_numeric(rest[name], errors="coerce")
    table = pd.concat([front, rest.reset_index(drop=True)], axis=1)
    if log_to is not None and scores is not None:
        log_predictions(log_to, predictor, frame, result.valid, scores)
    info = ListInfo(
        profile=profile.name,
        model_name=predictor.info.name,
        model_version=predictor.info.version,
        scored_at=time.time(),
        rows=result.total,
        accepted=result.accepted,
        rejected=result.rejected,
        explained=explained,
        source=source,
        band_rule=band_rule(predictor),
        warnings=list(result.warnings),
    )
    return RiskList(table=table, info=info, rejects=result.rejects if result.rejected else None)


def log_predictions(
    settings: Settings, predictor: Predictor, frame: pd.DataFrame, valid: pd.DataFrame, scores: Any
) -> int:
    """Append scored rows to the prediction log (ids pseudonymised by the log); returns rows
    written."""
    from studentops.databases import with_installed_driver
    from studentops.monitoring.predlog import PredictionLog
    from studentops.serving.batch import log_rows

    if not settings.prediction_log_url:
        settings.ensure_home()
    rows = log_rows(predictor, frame.reset_index(drop=True), valid, scores, "dashboard")
    log = PredictionLog(
        with_installed_driver(settings.prediction_log),
        settings.pseudonym_key,
        queue_size=max(settings.log_queue_size, len(rows)),
        batch_size=10_000,
    ).start()
    try:
        log.submit(rows)
    finally:
        log.close(timeout=600)
    return int(log.written)


def band_rule(predictor: Predictor) -> str:
    """The rule that made the bands, in one line (empty when the predictor cannot say)."""
    rule = getattr(predictor, "band_rule", None)
    if rule is not None:
        return str(rule())
    bands = predictor.bands
    return f"high: risk >= {bands.high:.0%}; medium: >= {bands.medium:.0%}; low: below"


def read_upload(data: bytes, name: str) -> pd.DataFrame:
    """An uploaded CSV or Parquet file as a table (the same reader as ``studentops score``).

    Raises:
        DataError: the file is neither ``.csv`` nor ``.parquet``, or cannot be read.
    """
    import tempfile

    from studentops.datasets.loading import read_table

    suffix = Path(name).suffix.lower() or ".csv"
    if suffix not in (".csv", ".parquet", ".pq", ".txt"):
        raise DataError(f"{name}: expected a .csv or .parquet file")
    with tempfile.TemporaryDirectory(prefix="studentops-upload-") as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(data)
        frame = read_table(path)
    return frame


# -- saved lists -------------------------------------------------------------------------------


def batches_dir(settings: Settings, profile: str) -> Path:
    """Where the dashboard keeps a profile's saved lists: ``home/dashboard/<profile>/batches``."""
    return settings.home / "dashboard" / profile / "batches"


def save_list(settings: Settings, risk_list: RiskList) -> Path:
    """Write the list as Parquet (and its info as JSON beside it); returns the Parquet path."""
    from studentops.serving.batch import write_table

    folder = batches_dir(settings, risk_list.info.profile)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(risk_list.info.scored_at))
    path = folder / f"{stamp}-{int(risk_list.info.scored_at * 1000) % 1000:03d}.parquet"
    write_table(risk_list.table, path)
    path.with_suffix(".json").write_text(json.dumps(risk_list.info.to_dict()), encoding="utf-8")
    return path


def latest_list(settings: Settings, profile: str) -> RiskList | None:
    """The newest saved list of ``profile``, or None when none was saved yet."""
    folder = batches_dir(settings, profile)
    found = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    if not found:
        return None
    path = found[-1]
    table = pd.read_parquet(path)
    meta = path.with_suffix(".json")
    if meta.is_file():
        info = ListInfo(**json.loads(meta.read_text(encoding="utf-8")))
    else:
        n = len(table)
        info = ListInfo(profile, None, None, path.stat().st_mtime, n, n, 0, 0, path.name)
    return RiskList(table=table, info=info)


# -- filters and counts ------------------------------------------------------------------------


def group_columns(profile: Profile, table: pd.DataFrame) -> list[str]:
    """Columns a list can be grouped or filtered by: the profile's period and group columns,
    then any category (or extra upload column) with 2 to 50 values; never a sensitive
    attribute, an id or a model output."""
    skip = set(DISPLAY) | set(profile.sensitive) | {"prediction", "risk_score", "risk_band"}
    skip |= {c for c in table.columns if c.startswith("proba_")} | {"model_version"}
    if profile.id:
        skip.add(profile.id)
    skip.add("student_id")
    first = [c for c in (profile.period, profile.group) if c]
    rest = [
        c
        for c in table.columns
        if c not in first
        and (c not in profile.columns or profile.columns[c].type in ("category", "boolean"))
    ]
    out = []
    for name in [*first, *rest]:
        if name in skip or name not in table.columns or name in out:
            continue
        if 2 <= table[name].nunique(dropna=True) <= MAX_GROUPS:
            out.append(name)
    return out


def group_values(profile: Profile, table: pd.DataFrame, column: str) -> pd.Series:
    """The column's values in words (labels where the profile has them)."""
    values = table[column]
    uniques = values.drop_duplicates().tolist()
    mapping = {category_key(v): value_text(profile, column, v) for v in uniques}
    return values.map(lambda v: mapping.get(category_key(v), "missing"))


def filter_list(
    table: pd.DataFrame,
    bands: list[str] | None = None,
    group: pd.Series | None = None,
    groups: list[str] | None = None,
) -> pd.DataFrame:
    """Rows in one of ``bands`` (all when None or empty) and, if given, in one of ``groups``
    of the ``group`` values (a Series aligned with ``table``). Order (the ranking) is kept."""
    mask = np.ones(len(table), dtype=bool)
    if bands:
        mask &= table["band"].isin(bands).to_numpy()
    if group is not None and groups:
        mask &= group.isin(groups).to_numpy()
    return table.loc[mask]


def band_counts(table: pd.DataFrame, group: pd.Series | None = None) -> pd.DataFrame:
    """Students per band (and per group): columns ``band``, [``group``], ``students``.

    Bands come in the order high, medium, low; a band with no student is kept at zero."""
    if group is None:
        counts = table["band"].value_counts()
        return pd.DataFrame(
            {"band": list(BANDS), "students": [int(counts.get(b, 0)) for b in BANDS]}
        )
    frame = pd.DataFrame({"band": table["band"].to_numpy(), "group": group.to_numpy()})
    counts = frame.value_counts().rename("students").reset_index()
    full = pd.MultiIndex.from_product(
        [list(BANDS), sorted(frame["group"].dropna().unique().tolist(), key=str)],
        names=["band", "group"],
    )
    counts = counts.set_index(["band", "group"]).reindex(full, fill_value=0).reset_index()
    counts["students"] = counts["students"].astype(int)
    return counts


def to_csv(table: pd.DataFrame) -> bytes:
    """The list as CSV bytes for download (display columns first, as shown)."""
    return table.to_csv(index=False).encode("utf-8")
