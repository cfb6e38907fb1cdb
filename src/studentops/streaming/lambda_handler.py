"""AWS Lambda handler for a Kinesis event source: ``studentops.streaming.lambda_handler.handler``.

Lambda hands over a batch of one shard's records (base64 data, as AWS delivers them). Each is
scored with the same Predictor as the API and the worker; results go to ``settings.stream_sink``
(``kinesis://results``) with PutRecords, poison events to ``settings.stream_dead_letter``. The
answer lists the records that could not be written as ``batchItemFailures`` (the event source
mapping needs ``FunctionResponseTypes: [ReportBatchItemFailures]``): Lambda checkpoints before
the lowest failed sequence number and retries from there, so nothing is lost and what was
written already may come again, which the result's ``event_id`` lets consumers drop.

Without a dead-letter stream, poison events are reported as failures too, so the mapping's own
retry limit and on-failure destination take them. The model is loaded once per container
(``settings.stream_model_uri``, else the champion of ``settings.serve_profile``); a champion is
re-checked at most every ``settings.reload_interval_s``, at the start of an invocation, because
a background thread would be frozen between invocations. Importing this module does nothing.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import Callable
from typing import Any

from studentops.config import Settings, load_settings
from studentops.errors import ConfigError
from studentops.streaming.backends.base import Message, Sink
from studentops.streaming.scoring import ScoredBatch, Scorer
from studentops.streaming.worker import score_messages

log = logging.getLogger(__name__)

_RUNTIME: LambdaRuntime | None = None


def _decode(data: Any) -> bytes | None:
    if not isinstance(data, str):
        return None
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return data.encode("utf-8")  # not base64: kept as is, judged (and dead-lettered) as JSON


def kinesis_messages(event: dict[str, Any]) -> list[Message]:
    """The Messages of a Kinesis event (sequence number as id, shard as partition)."""
    out = []
    for record in event.get("Records") or []:
        kinesis = record.get("kinesis") or {}
        seq = str(kinesis.get("sequenceNumber") or record.get("eventID") or "")
        shard = str(record.get("eventID", "")).split(":", 1)[0]
        out.append(Message(seq, _decode(kinesis.get("data")), shard))
    return out


def _sequence_key(seq: str) -> tuple[int, str]:
    return (int(seq), seq) if seq.isdigit() else (0, seq)


class LambdaRuntime:
    """What one container keeps between invocations: model, sinks and prediction log.

    Args:
        scorer: returns the Scorer for the next batch.
        sink: where results go.
        dead_letters: where poison events go; None reports them as failures instead.
        on_scored: the prediction log callback (written results only).
        refresh: called at the start of each invocation (champion check).
        flush: called before returning, because a frozen container runs no background thread.
    """

    def __init__(
        self,
        scorer: Callable[[], Scorer],
        sink: Sink,
        dead_letters: Sink | None = None,
        on_scored: Callable[[ScoredBatch], None] | None = None,
        refresh: Callable[[], None] | None = None,
        flush: Callable[[], None] | None = None,
    ) -> None:
        self.scorer = scorer
        self.sink = sink
        self.dead_letters = dead_letters
        self.on_scored = on_scored
        self.refresh = refresh
        self.flush = flush

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        """Score one Kinesis batch; returns the partial batch response."""
        if self.refresh is not None:
            self.refresh()
        messages = kinesis_messages(event)
        if not messages:
            return {"batchItemFailures": []}
        records = event.get("Records") or [{}]
        source = str(records[0].get("eventSourceARN") or "kinesis")
        outcome = score_messages(messages, self.scorer(), source)
        failed: set[str] = set()
        if outcome.results:
            for i in self.sink.write_some(outcome.results):
                failed.add(outcome.result_messages[i].id)
        if outcome.dead:
            if self.dead_letters is None:
                failed.update(m.id for m in outcome.dead_messages)
            else:
                for i in self.dead_letters.write_some(outcome.dead):
                    failed.add(outcome.dead_messages[i].id)
        if outcome.reasons:
            log.warning("poison events: %s", dict(outcome.reasons))
        self._log(outcome.scored, outcome.result_messages, failed)
        if failed:
            log.warning(
                "%d of %d records not written; reported for retry", len(failed), len(messages)
            )
        return {
            "batchItemFailures": [
                {"itemIdentifier": seq} for seq in sorted(failed, key=_sequence_key)
            ]
        }

    def _log(self, scored: ScoredBatch | None, written: list[Message], failed: set[str]) -> None:
        """Log the predictions that were delivered (a retried one is logged when it succeeds)."""
        if self.on_scored is None or scored is None or not scored.events:
            return
        keep = [i for i, m in enumerate(written) if m.id not in failed]
        if len(keep) != len(written):
            scored = ScoredBatch(
                scored.scorer,
                [scored.events[i] for i in keep],
                [scored.outputs[i] for i in keep],
                scored.ts,
                scored.latency_ms,
            )
        try:
            self.on_scored(scored)
            if self.flush is not None:
                self.flush()
        except Exception:
            log.exception("prediction log failed")


def load_model_scorer(settings: Settings) -> tuple[Callable[[], Scorer], Callable[[], None]]:
    """The container's model: (scorer provider, refresh that re-checks the champion)."""
    from studentops.streaming.scoring import HolderScorer, open_holder

    holder = open_holder(settings, poll=False)
    # A pinned model never moves; only a champion is re-checked.
    interval = 0.0 if settings.stream_model_uri else settings.reload_interval_s
    next_check = time.monotonic() + interval

    def refresh() -> None:
        nonlocal next_check
        if interval > 0 and time.monotonic() >= next_check:
            next_check = time.monotonic() + interval
            holder.reload()

    return HolderScorer(holder), refresh


def _flush(prediction_log: Any) -> None:
    if not prediction_log.flush(timeout=5.0):
        log.warning("prediction log: rows still buffered after 5 s")


def build_runtime(settings: Settings | None = None) -> LambdaRuntime:
    """Everything a container needs, from settings (environment variables in Lambda).

    Raises:
        ConfigError: ``STUDENTOPS_STREAM_SINK`` is not set.
        ModelError: no model to score with (see :func:`studentops.streaming.scoring.open_holder`).
    """
    from studentops.monitoring.predlog import PredictionLog
    from studentops.streaming.backends import open_sink
    from studentops.streaming.scoring import PredictionLogger

    settings = settings or load_settings()
    if not settings.stream_sink:
        raise ConfigError("set STUDENTOPS_STREAM_SINK to the output stream (kinesis://name)")
    scorer, refresh = load_model_scorer(settings)
    sink = open_sink(settings.stream_sink, settings)
    dead = open_sink(settings.stream_dead_letter, settings) if settings.stream_dead_letter else None
    if settings.prediction_log_url is None:
        settings.ensure_home()
    prediction_log = PredictionLog(
        settings.prediction_log, settings.pseudonym_key, queue_size=settings.log_queue_size
    ).start()
    return LambdaRuntime(
        scorer,
        sink,
        dead,
        on_scored=PredictionLogger(prediction_log),
        refresh=refresh,
        flush=lambda: _flush(prediction_log),
    )


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point: build the runtime on the first call, then score the batch.

    A failure to load the model raises, so Lambda retries the whole batch; problems with single
    records never raise, they are dead-lettered or reported in ``batchItemFailures``.
    """
    global _RUNTIME
    if _RUNTIME is None:
        _RUNTIME = build_runtime()
    return _RUNTIME.handle(event)
