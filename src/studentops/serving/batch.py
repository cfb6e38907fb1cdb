"""Offline scoring of a whole file with the champion: validated, ranked by risk, logged.

``studentops score`` and the demo call :func:`score_file`; :func:`top_risk_students` answers
"who needs help first, and why" by explaining only the N students it returns (SHAP on a whole
file would cost far more than scoring it). Rows are validated exactly as for training
(``validate(frame, profile, require_target=False)``); rejected rows go to a rejects file with
their reasons, never silently away.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from studentops.config import Settings, load_settings
from studentops.datasets.loading import read_table
from studentops.datasets.validation import ValidationResult, validate
from studentops.errors import DataError
from studentops.monitoring.predlog import LogRow, PredictionLog
from studentops.serving.bands import bands_from_settings
from studentops.serving.predictor import ModelInfo, Predictor, Scores


@dataclass
class ScoreSummary:
    """What a scoring run did, for the CLI and the demo."""

    rows: int
    accepted: int
    rejected: int
    out_path: Path
    rejects_path: Path | None
    model_name: str
    model_version: str
    seconds: float
    logged: int
    warnings: list[str] = field(default_factory=list)
    band_rule: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def rows_per_s(self) -> float:
        """Throughput of the whole run in rows per second (inf for a run under a clock tick)."""
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


def load_predictor(
    profile: str, settings: Settings | None = None, explainer: Any = None
) -> Predictor:
    """A Predictor for the champion of ``profile`` from the registry.

    Raises:
        ModelError: the profile has no champion, or its model cannot be loaded.
        ProfileError: the profile cannot be found or read.
    """
    from studentops.serving.source import RegistrySource

    settings = settings or load_settings()
    from studentops.datasets.profile import profile_name

    source = RegistrySource(profile_name(profile, settings), settings)
    version = source.current_version()
    if version is None:
        from studentops.errors import ModelError

        raise ModelError(f"no champion for profile '{profile}': train and promote a model first")
    model, info = source.load(version)
    return Predictor(model, info, bands_from_settings(settings), explainer)


def score_frame(
    predictor: Predictor, frame: pd.DataFrame, explain: bool = False, top_k: int = 3
) -> tuple[pd.DataFrame, ValidationResult, Scores | None]:
    """Validate and score a table; returns (ranked predictions, validation, raw scores).

    The predictions are the input rows that passed, with ``prediction`` (the class label),
    ``proba_<label>`` per class, ``risk_score``, ``risk_log_odds`` (the tie-break of equal
    risks; see :meth:`Predictor.rank_key`), ``risk_band``, ``band_reason``, ``rank`` (integers
    from 1) and ``model_version`` appended (and ``reasons`` with ``explain``), highest risk
    first. Bands follow the predictor's rule for lists (:meth:`RiskBands.list_bands`).
    """
    frame = frame.reset_index(drop=True)
    result = validate_known(frame, predictor)
    valid = result.valid
    if not len(valid):
        return frame.iloc[0:0].copy(), result, None
    X = predictor.model.encode(valid[predictor.features])
    scores = predictor.score_matrix(X)
    key = predictor.rank_key(X, scores)
    order = predictor.rank_order(scores, key)
    bands, band_reasons = predictor.bands.list_bands(scores.risk, order, scores.at_risk)
    scores.bands = bands  # the log and the metrics record the bands the file shows
    out = frame.loc[valid.index].copy()
    out["prediction"] = predictor.labels_of(scores.prediction)
    if scores.proba is not None:
        for j, name in enumerate(predictor.class_labels):
            out[f"proba_{name}"] = scores.proba[:, j]
    out["risk_score"] = scores.risk
    out["risk_log_odds"] = key
    out["risk_band"] = bands
    out["band_reason"] = band_reasons
    if explain:
        reasons = predictor.explain(valid[predictor.features].to_dict("records"), top_k)
        out["reasons"] = [format_reasons(r) for r in reasons]
    out = out.iloc[order]
    out["rank"] = pd.array(np.arange(1, len(out) + 1), dtype="Int64")
    out["model_version"] = predictor.info.version
    return out.reset_index(drop=True), result, scores


def validate_known(frame: pd.DataFrame, predictor: Predictor) -> ValidationResult:
    """Validate ``frame`` for scoring. Columns outside the profile (``student_id``, a name) are
    not judged but copied to the output as they are, and the warning says so rather than
    calling them ignored."""
    result = validate(frame, predictor.profile, require_target=False)
    extra = [str(c) for c in frame.columns if c not in predictor.profile.columns]
    if extra:
        result.warnings[:] = [w for w in result.warnings if "not in the profile, ignored" not in w]
        shown = ", ".join(extra[:5]) + (", ..." if len(extra) > 5 else "")
        result.warnings.append(
            f"{len(extra)} column(s) not in the profile, copied to the output unscored: {shown}"
        )
    return result


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """CSV or Parquet by extension, through Arrow. CSV cells are quoted only where they must be
    (:mod:`studentops.serving.csv_text`), so text copied from the input reads as it was.

    Raises:
        DataError: the file cannot be written (a missing permission, a full disk).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from studentops.serving.csv_text import write_csv

    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(_arrow_safe(frame), preserve_index=False)
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            pq.write_table(table, path)
        else:
            write_csv(table, path)
    except OSError as exc:
        raise DataError(f"{path}: cannot write ({exc})") from exc
    return path


def _arrow_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns holding mixed types (ids, coded classes) become text for Arrow."""
    fixes = {}
    for name in frame.columns:
        col = frame[name]
        if col.dtype == object:
            kinds = {type(v) for v in col.dropna().head(1000)}
            if len(kinds) > 1 or (kinds and not kinds <= {str}):
                fixes[name] = col.map(lambda v: None if v is None or v is pd.NA else str(v))
    return frame.assign(**fixes) if fixes else frame


def log_rows(
    predictor: Predictor, frame: pd.DataFrame, valid: pd.DataFrame, scores: Scores, source: str
) -> list[LogRow]:
    """Prediction log rows for a scored table, built from whole columns.

    Going through pandas row by row (or its line-delimited JSON writer) cost more than scoring
    the file; plain column lists zipped into dicts for orjson cost about 5 us a row.
    """
    features = valid[predictor.features]
    feature_json = _json_rows(predictor.features, [features[c].tolist() for c in features])
    ids = student_ids(frame.loc[valid.index], predictor)
    info: ModelInfo = predictor.info
    now = time.time()
    bands = (
        scores.bands
        if scores.bands is not None
        else predictor.bands.bands(scores.risk, scores.at_risk)
    ).tolist()
    preds = scores.prediction.tolist()
    risk = [None if r != r else r for r in scores.risk.tolist()]
    if scores.proba is not None:
        probs = _json_rows(predictor.class_names, scores.proba.T.tolist())
        outputs = ['{"probabilities":' + p + "}" for p in probs]
    else:
        outputs = ["{}"] * len(preds)
    fixed = (info.name, info.version, 0.0, info.profile, source)
    make = tuple.__new__  # skips the NamedTuple constructor's argument handling
    return [
        make(LogRow, (now, sid, feats, pred, r, band, out, *fixed))
        for sid, feats, pred, r, band, out in zip(
            ids, feature_json, preds, risk, bands, outputs, strict=True
        )
    ]


def _json_rows(names: list[str], columns: list[list[Any]]) -> list[str]:
    """One JSON object per row from column lists (NaN becomes null)."""
    dumps = orjson.dumps
    out = []
    for values in zip(*columns, strict=True):
        row = dict(zip(names, values, strict=True))
        try:
            out.append(dumps(row).decode())
        except TypeError:  # a date/time or an integer beyond 64 bits
            out.append(json.dumps(row, default=str))
    return out


def student_ids(frame: pd.DataFrame, predictor: Predictor) -> list[Any]:
    """The id of each row: ``student_id`` if present, else the profile's id column."""
    for name in ("student_id", predictor.profile.id):
        if name and name in frame.columns:
            return [None if pd.isna(v) else v for v in frame[name].tolist()]
    return [None] * len(frame)


def reason_text(reason: dict[str, Any]) -> str:
    """One reason in words: 'Course = Nursing (+3.2 pp)' (pp: percentage points of risk)."""
    shown = reason.get("label")
    if shown is None:
        value = reason.get("value")
        shown = f"{value:.3g}" if isinstance(value, float) else value
    return (
        f"{reason.get('feature')} = {shown} ({points(float(reason.get('contribution', 0.0)))} pp)"
    )


def points(value: float) -> str:
    """A contribution with a sign and the decimals it needs: +12.3, +0.4, +0.028, +0.0003 (the
    reasons of a saturated risk are small, and '+0.0' would hide them)."""
    size = abs(value)
    if size >= 0.095 or size == 0:
        return f"{value:+.1f}"
    if size < 5e-5:
        return "<+0.0001" if value > 0 else ">-0.0001"
    decimals = min(4, 1 - math.floor(math.log10(size)))
    return f"{value:+.{decimals}f}"


def format_reasons(reasons: dict[str, Any]) -> str:
    """'up: feature = label (+12.0 pp), ...; down: ... [pp = percentage points of risk]' for a
    CSV cell; the unit is named in every cell."""
    parts = []
    if reasons.get("up"):
        parts.append("up: " + ", ".join(reason_text(r) for r in reasons["up"]))
    if reasons.get("down"):
        parts.append("down: " + ", ".join(reason_text(r) for r in reasons["down"]))
    units = reasons.get("units", "percentage points of risk")
    return "; ".join(parts) + (f" [pp = {units}]" if parts else "")


def default_rejects_path(out: Path) -> Path:
    """``ranked.csv`` -> ``ranked.rejects.csv`` in the same folder."""
    return out.with_name(f"{out.stem}.rejects.csv")


def score_file(
    profile: str,
    data: str | Path,
    out: str | Path,
    *,
    explain: bool = False,
    top_k: int = 3,
    sep: str | None = None,
    rejects: str | Path | None = None,
    settings: Settings | None = None,
    encoding: str | None = None,
    predictor: Predictor | None = None,
    log_predictions: bool = True,
) -> ScoreSummary:
    """Score a CSV/Parquet file with the champion and write ranked predictions.

    Args:
        profile: profile whose champion scores the file.
        data: input CSV or Parquet: the profile's columns are validated and scored; other
            columns (``student_id``, a name) are copied to the output as they are.
        out: output CSV or Parquet: input rows plus predictions, ranked by risk.
        explain: add each student's top reasons (SHAP; much slower than scoring).
        rejects: where rejected rows go with reasons (default: beside ``out``, named
            ``<out name without extension>.rejects.csv``; see :func:`default_rejects_path`).
        encoding: the CSV's text encoding (default: the profile's, else detected).
        predictor: score with this instead of loading the champion (tests, demo).
        log_predictions: append every prediction to the prediction log.

    Returns:
        A ScoreSummary (counts, paths, model, time, per-stage timings).
    """
    settings = settings or load_settings()
    started = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        timings[name] = now - since
        return now

    t = started
    predictor = predictor or load_predictor(profile, settings)
    t = lap("load_model", t)
    frame = read_table(data, sep=sep, encoding=encoding or predictor.profile.formats.encoding)
    t = lap("read", t)
    scored, result, scores = score_frame(predictor, frame, explain=explain, top_k=top_k)
    t = lap("validate_and_score", t)

    log = None
    if log_predictions and scores is not None:
        from studentops.databases import with_installed_driver

        if not settings.prediction_log_url:
            settings.ensure_home()
        log = PredictionLog(
            with_installed_driver(settings.prediction_log),
            settings.pseudonym_key,
            queue_size=max(settings.log_queue_size, len(scored)),
            batch_size=10_000,
        ).start()
        # The writer inserts on its own thread (SQLite and psycopg release the GIL while
        # writing) while the output file is written here.
        log.submit(log_rows(predictor, frame, result.valid, scores, "batch"))
    t = lap("log_submit", t)

    out_path = write_table(scored, Path(out))
    rejects_path = None
    if result.rejected:
        rejects_path = Path(rejects) if rejects else default_rejects_path(out_path)
        write_table(result.rejects, rejects_path)
    t = lap("write", t)
    logged = 0
    if log is not None:
        log.close(timeout=600)
        logged = log.written
    lap("log_flush", t)
    return ScoreSummary(
        rows=result.total,
        accepted=result.accepted,
        rejected=result.rejected,
        out_path=out_path,
        rejects_path=rejects_path,
        model_name=predictor.info.name,
        model_version=predictor.info.version,
        seconds=time.perf_counter() - started,
        logged=logged,
        warnings=list(result.warnings),
        timings=timings,
        band_rule=predictor.band_rule(),
    )


def top_risk_students(
    predictor: Predictor, frame: pd.DataFrame, n: int = 10, top_k: int = 3
) -> list[dict[str, Any]]:
    """The ``n`` highest-risk students of a table with their top reasons.

    Scores every row, ranks them as :func:`score_frame` does (risk, then the model's log-odds)
    and explains only the ``n`` returned. Each item: ``student_id``, ``rank``, ``prediction``
    (class label), ``risk_score``, ``risk_log_odds``, ``risk_band``, ``band_reason`` and
    ``reasons`` (``units`` and ``up``/``down`` lists of feature, value, label, contribution).
    """
    frame = frame.reset_index(drop=True)
    result = validate_known(frame, predictor)
    valid = result.valid
    if not len(valid):
        return []
    X = predictor.model.encode(valid[predictor.features])
    scores = predictor.score_matrix(X)
    key = predictor.rank_key(X, scores)
    order = predictor.rank_order(scores, key)
    bands, band_reasons = predictor.bands.list_bands(scores.risk, order, scores.at_risk)
    top = order[:n]
    chosen = valid.iloc[top]
    reasons = predictor.explain(chosen[predictor.features].to_dict("records"), top_k)
    ids = student_ids(frame.loc[chosen.index], predictor)
    labels = predictor.labels_of(scores.prediction[top])
    return [
        {
            "student_id": ids[i],
            "rank": i + 1,
            "prediction": labels[i],
            "risk_score": float(scores.risk[j]),
            "risk_log_odds": float(key[j]),
            "risk_band": bands[j],
            "band_reason": band_reasons[j],
            "reasons": reasons[i],
        }
        for i, j in enumerate(top)
    ]
