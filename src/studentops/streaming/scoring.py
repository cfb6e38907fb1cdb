"""The model side of streaming: a narrow Scorer interface, its Predictor adapter, and logging.

The worker and the Lambda handler only know :class:`Scorer` (validate one record, score a
batch), so the transport code can be tested with any model and the serving
:class:`~studentops.serving.predictor.Predictor` stays the one place that validates, scores and
bands a student, exactly as the API does. Champion changes reach the worker through the
serving :class:`~studentops.serving.holder.ModelHolder`: it polls the registry alias in the
background and swaps the Predictor atomically, and the worker picks the current one up at the
start of each batch, so one batch is always scored by one model.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from studentops.errors import ModelError
from studentops.streaming.messages import Event

if TYPE_CHECKING:
    from studentops.config import Settings
    from studentops.monitoring.predlog import PredictionLog
    from studentops.serving.holder import ModelHolder
    from studentops.serving.predictor import ModelInfo, Predictor

log = logging.getLogger(__name__)

MAX_DETAIL_CHARS = 500
FRAME_MIN_ROWS = 64  # from here on a DataFrame pays for itself when encoding a batch


class Scorer(Protocol):
    """What streaming needs from a model.

    Attributes:
        name, version, profile: who scores (shown in results and the prediction log).
    """

    name: str
    version: str
    profile: str

    def validate_record(self, record: dict[str, Any]) -> str | None:
        """None when the features fit the profile, else a reason naming each bad field."""
        ...

    def score_batch(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Validate and score records: per record ``prediction``, ``probabilities``,
        ``risk`` (``{"score", "band"}``), ``model_version`` and optionally ``features`` (the
        validated values, for the prediction log), in input order.

        Raises (anything) when a record is invalid; the worker then finds it with
        ``validate_record`` and scores the others.
        """
        ...


@dataclass
class ScoredBatch:
    """Events scored together (what the prediction log receives): the scorer that scored them,
    the events and their outputs (one dict per event, same order), when (epoch seconds) and the
    batch's scoring latency in milliseconds."""

    scorer: Scorer
    events: list[Event]
    outputs: list[dict[str, Any]]
    ts: float
    latency_ms: float


class PredictorScorer:
    """Adapts the serving Predictor to :class:`Scorer` (same validation, scoring and bands)."""

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor
        self.name = predictor.info.name
        self.version = predictor.info.version
        self.profile = predictor.info.profile or predictor.profile.name

    def validate_record(self, record: dict[str, Any]) -> str | None:
        """Check one record against the profile; returns None, or why not in one line (at most
        ``MAX_DETAIL_CHARS`` characters) for the dead letter."""
        from studentops.serving.predictor import RecordsInvalid

        try:
            self.predictor.validate(record)
        except RecordsInvalid as exc:
            parts = [f"{e.field}: {e.kind} ({e.message})" for e in exc.errors]
            text = "; ".join(parts) or str(exc)
            return text if len(text) <= MAX_DETAIL_CHARS else text[: MAX_DETAIL_CHARS - 3] + "..."
        return None

    def score_batch(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Score records as the API does: one output per record, in input order.

        Raises:
            RecordsInvalid: a record breaks the profile (the worker then isolates it).
        """
        # One pydantic call for the whole list; it also converts values to profile types
        # (1, "1" and 1.0 are one category). RecordsInvalid if any record breaks the profile.
        features, _ = self.predictor.validate(records)
        predictor = self.predictor
        if len(features) >= FRAME_MIN_ROWS:
            # The encoder's vectorised DataFrame path: same matrix, a third of the cost of
            # encoding dict by dict once a batch has a few dozen rows (benchmarks/bench_stream).
            import pandas as pd

            frame = pd.DataFrame.from_records(features, columns=predictor.features)
            answers = predictor.answers(predictor.score_frame(frame), [None] * len(features))
        else:
            answers = predictor.predict_records(features)
        return [
            {
                "prediction": a["prediction"],
                "probabilities": a["probabilities"],
                "risk": {"score": a["risk_score"], "band": a["risk_band"]},
                "model_version": a["model_version"],
                # the class value for the prediction log (results carry the label)
                "logged_prediction": predictor.class_of(a["prediction"])
                if predictor.task != "regression"
                else a["prediction"],
                "logged_probabilities": None
                if a["probabilities"] is None
                else dict(zip(predictor.class_names, a["probabilities"].values(), strict=True)),
                "features": typed,  # profile-typed values, logged as the API logs them
            }
            for a, typed in zip(answers, features, strict=True)
        ]


class HolderScorer:
    """Scorer provider over a ModelHolder: the current champion, adapted once per swap."""

    def __init__(self, holder: ModelHolder) -> None:
        self.holder = holder
        self._predictor: Predictor | None = None
        self._scorer: PredictorScorer | None = None

    def __call__(self) -> Scorer:
        """The scorer of the holder's current model (a new one only when the model changed)."""
        predictor = self.holder.get()
        if predictor is not self._predictor or self._scorer is None:
            self._predictor = predictor
            self._scorer = PredictorScorer(predictor)
        return self._scorer


class PredictionLogger:
    """Sends every scored event to the prediction log, as the API does (source ``stream``).

    The log pseudonymises the student id in its writer thread; the raw id never reaches a
    database or a log line. Rows look like the API's: profile-typed features (when the scorer
    returns them), probabilities as the output.
    """

    def __init__(self, prediction_log: PredictionLog) -> None:
        self.prediction_log = prediction_log

    def __call__(self, batch: ScoredBatch) -> None:
        """Submit a scored batch to the prediction log (pseudonymised ids, off the stream's
        path)."""
        from studentops.monitoring.predlog import LogRow

        scorer = batch.scorer
        rows = [
            LogRow(
                ts=batch.ts,
                student_id=event.student_id,
                features=out.get("features", event.features),
                prediction=out.get("logged_prediction", out["prediction"]),
                risk_score=out["risk"]["score"],
                risk_band=out["risk"]["band"],
                output={"probabilities": out.get("logged_probabilities", out["probabilities"])}
                if out["probabilities"]
                else {},
                model_name=scorer.name,
                model_version=scorer.version,
                latency_ms=batch.latency_ms,
                profile=scorer.profile,
                source="stream",
            )
            for event, out in zip(batch.events, batch.outputs, strict=True)
        ]
        self.prediction_log.submit(rows)


# -- where models come from ---------------------------------------------------------------------


class PinnedSource:
    """One fixed model URI (``models:/name/3``, ``runs:/...``, a path); never moves.

    The champion's source is the API's :class:`~studentops.serving.source.RegistrySource`.
    """

    def __init__(self, uri: str, settings: Settings) -> None:
        self.uri = uri
        self.settings = settings

    def current_version(self) -> str | None:
        """The pinned URI itself: it never changes, so the holder loads it once."""
        return self.uri

    def load(self, version: str) -> tuple[Any, ModelInfo]:
        """Load the model at the pinned URI with its registry metadata.

        Raises:
            ModelError: the URI cannot be loaded.
        """
        from studentops.registry.store import load_student_model
        from studentops.serving.source import info_from_registry

        model, meta = load_student_model(self.uri, self.settings)
        return model, info_from_registry(meta, meta.profile.name)


def predictor_factory(settings: Settings) -> Callable[[Any, ModelInfo], Predictor]:
    """Builds Predictors with the risk bands of ``settings``."""
    from studentops.serving.bands import bands_from_settings
    from studentops.serving.predictor import Predictor

    bands = bands_from_settings(settings)
    return lambda model, info: Predictor(model, info, bands)


def open_holder(
    settings: Settings,
    profile: str | None = None,
    model_uri: str | None = None,
    poll: bool = True,
) -> ModelHolder:
    """Load the model to stream with: the pinned URI, else the profile's champion.

    The first load happens here (a clear ModelError if it fails); with ``poll`` the champion is
    then polled every ``settings.reload_interval_s`` in a background thread (Lambda calls
    ``holder.reload()`` itself instead). A pinned model is never polled.

    Raises:
        ModelError: neither a model URI nor a profile is given, or the model cannot be loaded.
    """
    from studentops.serving.holder import ModelHolder, ModelSource
    from studentops.serving.source import RegistrySource

    uri = model_uri or settings.stream_model_uri
    profile = profile or settings.serve_profile
    source: ModelSource
    if uri:
        source = PinnedSource(uri, settings)
    elif profile:
        from studentops.datasets.profile import profile_name

        source = RegistrySource(profile_name(profile, settings), settings)
    else:
        raise ModelError("no model to stream with: give --profile or --model (or serve_profile)")
    holder = ModelHolder(source, predictor_factory(settings))
    result = holder.reload()
    if result.outcome != "swapped":
        raise ModelError(f"cannot load the model to stream with: {result.detail}")
    if poll and isinstance(source, RegistrySource):
        holder.start_polling(settings.reload_interval_s)
    return holder
