"""What the prediction routes do, HTTP-free: bytes in, answers out, metrics and log on the side.

Routes stay thin (parse the request, call one method, wrap the result); everything testable
without a server lives here. A client's mistake becomes a StudentOpsError subclass that the app
maps to a 4xx; anything else is our bug.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import orjson
import pandas as pd

from studentops.datasets.loading import decode_text, parse_csv_text, sniff_delimiter
from studentops.errors import DataError
from studentops.json_values import dump_json
from studentops.monitoring.predlog import LogRow, PredictionLog
from studentops.serving.batch import log_rows, score_frame
from studentops.serving.metrics import Metrics
from studentops.serving.predictor import Predictor, RecordsInvalid, TooLarge
from studentops.serving.schemas import FieldError

CSV_CHUNK_ROWS = 5_000


class BadRequestBody(RecordsInvalid):
    """The body is not JSON, or not an object or a list of objects (HTTP 422)."""


@dataclass
class CsvResult:
    """A scored CSV: rows ranked by risk (rejected rows last, with reasons), ready to stream."""

    frame: pd.DataFrame
    accepted: int
    rejected: int
    band_rule: str = ""

    def chunks(self) -> Iterator[bytes]:
        """The CSV text in chunks, so a large result starts flowing before it is all encoded."""
        for start in range(0, max(len(self.frame), 1), CSV_CHUNK_ROWS):
            part = self.frame.iloc[start : start + CSV_CHUNK_ROWS]
            yield part.to_csv(index=False, header=start == 0, lineterminator="\n").encode()


class PredictionService:
    """Runs predictions for the API on the predictor each route takes from the model holder."""

    def __init__(
        self,
        metrics: Metrics,
        log: PredictionLog | None,
        max_batch_rows: int,
    ) -> None:
        self.metrics = metrics
        self.log = log
        self.max_batch_rows = max_batch_rows

    # -- JSON ------------------------------------------------------------------------------

    def parse(self, body: bytes) -> Any:
        """Decode the body and check its shape and size before any per-field work.

        Returns a dict (one record) or a non-empty list of dicts.

        Raises:
            BadRequestBody: not JSON, an empty list, or neither an object nor a list (422).
            TooLarge: more records than ``max_batch_rows`` (413).
        """
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BadRequestBody(
                [FieldError(None, "body", "wrong type", f"not valid JSON ({exc.msg})")]
            ) from None
        if isinstance(payload, list):
            if len(payload) > self.max_batch_rows:
                raise TooLarge(
                    f"{len(payload)} records in one request; the limit is {self.max_batch_rows}"
                )
            if not payload:
                raise BadRequestBody(
                    [FieldError(None, "body", "missing", "an empty list: send at least one record")]
                )
        elif not isinstance(payload, dict):
            raise BadRequestBody(
                [
                    FieldError(
                        None,
                        "body",
                        "wrong type",
                        "expected a JSON object or a list of objects, "
                        f"got {type(payload).__name__}",
                    )
                ]
            )
        return payload

    def predict_json(self, predictor: Predictor, payload: Any, explain: bool, top_k: int) -> bytes:
        """Validate, score, count and log; returns the JSON response body.

        Raises:
            RecordsInvalid: a field of some record broke the profile (422, every field named).
        """
        start = time.perf_counter()
        try:
            records, ids = predictor.validate(payload)
        except RecordsInvalid as exc:
            rows = {e.row for e in exc.errors}
            self.metrics.invalid_rows.labels("predict").inc(len(rows))
            raise
        answers = predictor.predict_records(records, ids, explain=explain, top_k=top_k)
        self._record(predictor, records, answers, start, "api")
        out: Any = answers if isinstance(payload, list) else answers[0]
        return dump_json(out)

    def _record(
        self,
        predictor: Predictor,
        records: list[dict[str, Any]],
        answers: list[dict[str, Any]],
        start: float,
        source: str,
    ) -> None:
        self.metrics.count_predictions(
            [a["prediction"] for a in answers]
            if predictor.task != "regression"
            else ["value"] * len(answers),
            [a["risk_band"] for a in answers],
        )
        if self.log is None:
            return
        now = time.time()
        latency_ms = (time.perf_counter() - start) * 1000
        info = predictor.info
        classify = predictor.task != "regression"
        codes = dict(zip(predictor.class_labels, predictor.class_names, strict=True))
        # The log keeps class values (outcomes arrive as values, not labels).
        self.log.submit(
            LogRow(
                ts=now,
                student_id=a["student_id"],
                features=rec,
                prediction=predictor.class_of(a["prediction"]) if classify else a["prediction"],
                risk_score=a["risk_score"],
                risk_band=a["risk_band"],
                output={"probabilities": {codes[k]: v for k, v in a["probabilities"].items()}}
                if a["probabilities"]
                else {},
                model_name=info.name,
                model_version=info.version,
                latency_ms=latency_ms,
                profile=info.profile,
                source=source,
            )
            for rec, a in zip(records, answers, strict=True)
        )

    # -- CSV -------------------------------------------------------------------------------

    def predict_csv(self, predictor: Predictor, upload: BinaryIO) -> CsvResult:
        """Score an uploaded CSV: validated like training input, ranked by risk, rejects kept.

        Raises:
            DataError: the upload cannot be decoded or has no data rows (422).
            TooLarge: more rows than ``max_batch_rows`` (413).
        """
        frame = read_upload(upload, predictor.profile.formats.encoding)
        if len(frame) > self.max_batch_rows:
            raise TooLarge(f"{len(frame)} rows in one upload; the limit is {self.max_batch_rows}")
        scored, result, scores = score_frame(predictor, frame)
        self.metrics.invalid_rows.labels("predict_csv").inc(result.rejected)
        scored["status"] = "ok"
        scored["errors"] = ""
        if scores is not None:
            self.metrics.count_predictions(
                predictor.labels_of(scores.prediction)
                if predictor.task != "regression"
                else ["value"] * len(scores.risk),
                (
                    scores.bands
                    if scores.bands is not None
                    else predictor.bands.bands(scores.risk, scores.at_risk)
                ).tolist(),
            )
            if self.log is not None:
                self.log.submit(log_rows(predictor, frame, result.valid, scores, "api"))
        if result.rejected:
            bad = frame.reset_index(drop=True).drop(index=result.valid.index).copy()
            bad["status"] = "rejected"
            bad["errors"] = reject_reasons(result.rejects).reindex(bad.index).fillna("").to_numpy()
            scored = pd.concat([scored, bad], ignore_index=True)
            if "rank" in scored.columns:  # rejected rows have no rank: keep integers
                scored["rank"] = scored["rank"].astype("Int64")
        return CsvResult(scored, result.accepted, result.rejected, predictor.band_rule())


def read_upload(upload: BinaryIO, encoding: str | None = None) -> pd.DataFrame:
    """Read an uploaded CSV as text cells, exactly as ``validate`` reads a file: encoding
    detected (or the profile's), delimiter sniffed.

    Raises:
        DataError: the bytes cannot be decoded, or there is no data row.
    """
    text, notes = decode_text(upload.read(), "the upload", encoding)
    frame = parse_csv_text(text, "the upload")
    if frame.empty:
        raise DataError("the upload has no data rows")
    frame.attrs["read_notes"] = notes
    frame.attrs["sep"] = sniff_delimiter(text[: 64 * 1024])
    return frame


def reject_reasons(rejects: pd.DataFrame) -> pd.Series:
    """One text per rejected row (0-based position): 'column: reason; column: reason'."""
    if rejects.empty:
        return pd.Series(dtype=object)
    text = rejects["column"].astype(str) + ": " + rejects["reason"].astype(str)
    return text.groupby(rejects["row"].to_numpy() - 1).agg("; ".join)
