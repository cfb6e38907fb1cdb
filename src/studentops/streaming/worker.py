"""The streaming worker: micro-batches of events -> scores -> results, at least once.

The loop is backend-agnostic: it reads from a :class:`Source`, writes results and dead letters
to :class:`Sink`\\ s, and acknowledges a batch only after both writes returned. A worker killed
at any point therefore loses nothing: what it read but did not acknowledge is delivered again
(to itself on restart, or claimed by another worker of the group), and the results carry the
event id so that consumers drop the duplicates such a replay may produce.

A batch closes when it holds ``batch_size`` events or ``max_wait_ms`` after its first event,
whichever comes first: large batches when the stream is busy (throughput), short waits when it
is quiet (latency). ``stop`` (set by SIGTERM) ends the loop after the current batch is written
and acknowledged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from studentops.streaming.backends.base import Message, OutRecord, Sink, Source
from studentops.streaming.messages import (
    INVALID_FEATURES,
    SCORING_FAILED,
    TOO_MANY_DELIVERIES,
    Event,
    Rejection,
    encode_dead_letter,
    encode_result,
    parse_event,
    utc_now_text,
)
from studentops.streaming.scoring import ScoredBatch, Scorer

log = logging.getLogger(__name__)

IDLE_BLOCK_MS = 1_000  # longest blocking read while idle: also how fast ``stop`` is noticed
MAX_BACKOFF_S = 5.0


@dataclass
class BatchOutcome:
    """One batch turned into records to write; nothing written yet (a pure result)."""

    results: list[OutRecord] = field(default_factory=list)
    result_messages: list[Message] = field(default_factory=list)
    dead: list[OutRecord] = field(default_factory=list)
    dead_messages: list[Message] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    scored: ScoredBatch | None = None


def _reject(
    out: BatchOutcome, message: Message, rejection: Rejection, source: str, now: str
) -> None:
    out.dead.append(encode_dead_letter(message, rejection, source, now))
    out.dead_messages.append(message)
    out.reasons[rejection.reason] += 1


def _score_all(scorer: Scorer, records: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The batch's outputs, or None when the scorer refused the batch as a whole."""
    try:
        outputs = scorer.score_batch(records)
    except Exception:
        return None
    return outputs if len(outputs) == len(records) else None


def _score_isolating(scorer: Scorer, events: list[Event]) -> list[dict[str, Any] | Rejection]:
    """Score a batch in one call; if that fails, find the culprits and score the rest.

    Validating inside ``score_batch`` and only checking record by record when the batch is
    refused keeps the common case (every event valid) to one validation pass.
    """
    records = [e.features for e in events]
    outputs = _score_all(scorer, records)
    if outputs is not None:
        return list(outputs)
    answers: list[dict[str, Any] | Rejection | None] = [None] * len(events)
    valid: list[int] = []
    for i, event in enumerate(events):
        try:
            problem = scorer.validate_record(records[i])
        except Exception as exc:
            problem = f"validation raised {exc.__class__.__name__}"
        if problem is None:
            valid.append(i)
        else:
            answers[i] = Rejection(INVALID_FEATURES, problem, event.event_id)
    outputs = _score_all(scorer, [records[i] for i in valid]) if valid else []
    if outputs is None:
        log.warning("batch scoring failed; scoring %d records one by one", len(valid))
        outputs = []
        for i in valid:
            try:
                outputs.append(scorer.score_batch([records[i]])[0])
            except Exception as exc:
                detail = f"{exc.__class__.__name__}: {str(exc)[:200]}"
                answers[i] = Rejection(SCORING_FAILED, detail, events[i].event_id)
        valid = [i for i in valid if answers[i] is None]
    for i, output in zip(valid, outputs, strict=True):
        answers[i] = output
    return [a for a in answers if a is not None]


def score_messages(
    messages: Sequence[Message],
    scorer: Scorer,
    source_url: str,
    max_deliveries: int | None = None,
    clock: Callable[[], float] = time.time,
) -> BatchOutcome:
    """Parse, validate and score a batch; every message ends up a result or a dead letter."""
    started = time.perf_counter()
    now = clock()
    stamp = utc_now_text(now)
    out = BatchOutcome()
    events: list[Event] = []
    event_messages: list[Message] = []
    for message in messages:
        if max_deliveries is not None and message.deliveries > max_deliveries:
            rejection = Rejection(
                TOO_MANY_DELIVERIES,
                f"delivered {message.deliveries} times (limit {max_deliveries}) without success",
            )
            _reject(out, message, rejection, source_url, stamp)
            continue
        parsed = parse_event(message.data)
        if isinstance(parsed, Rejection):
            _reject(out, message, parsed, source_url, stamp)
            continue
        events.append(parsed)
        event_messages.append(message)
    if not events:
        return out
    answers = _score_isolating(scorer, events)
    scored_events: list[Event] = []
    scored_outputs: list[dict[str, Any]] = []
    for event, message, answer in zip(events, event_messages, answers, strict=True):
        if isinstance(answer, Rejection):
            _reject(out, message, answer, source_url, stamp)
            continue
        out.results.append(encode_result(event, answer, stamp))
        out.result_messages.append(message)
        scored_events.append(event)
        scored_outputs.append(answer)
    latency_ms = (time.perf_counter() - started) * 1000
    out.scored = ScoredBatch(scorer, scored_events, scored_outputs, now, latency_ms)
    return out


@dataclass
class WorkerStats:
    """Counters of one worker's life (also logged when it stops)."""

    batches: int = 0
    events: int = 0
    results: int = 0
    dead_letters: int = 0
    errors: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        """The counters as plain JSON values (what ``stream`` prints at exit)."""
        return {
            "batches": self.batches,
            "events": self.events,
            "results": self.results,
            "dead_letters": self.dead_letters,
            "errors": self.errors,
            "reasons": dict(self.reasons),
        }


class Worker:
    """Reads micro-batches from ``source``, scores them and writes results and dead letters.

    Args:
        source: where events come from.
        sink: where results go.
        dead_letters: where poison events go, with their reason and original payload.
        scorer: returns the Scorer to use for the next batch (the current champion).
        batch_size: most events per batch.
        max_wait_ms: longest the first event of a batch waits for more.
        on_scored: called with each ScoredBatch after it was acknowledged (prediction log).
        max_deliveries: an event handed out more often goes to the dead letters unscored,
            so an event that crashes workers cannot crash them forever.
    """

    def __init__(
        self,
        source: Source,
        sink: Sink,
        dead_letters: Sink,
        scorer: Callable[[], Scorer],
        *,
        batch_size: int = 500,
        max_wait_ms: int = 50,
        on_scored: Callable[[ScoredBatch], None] | None = None,
        max_deliveries: int | None = 5,
        idle_block_ms: int = IDLE_BLOCK_MS,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.source = source
        self.sink = sink
        self.dead_letters = dead_letters
        self.scorer = scorer
        self.batch_size = batch_size
        self.max_wait_ms = max(0, max_wait_ms)
        self.on_scored = on_scored
        self.max_deliveries = max_deliveries
        self.idle_block_ms = max(1, idle_block_ms)
        self.stats = WorkerStats()

    def collect(self, stop: threading.Event) -> list[Message]:
        """One micro-batch: wait for a first event, then fill until full or the deadline."""
        batch = self.source.read(self.batch_size, self.idle_block_ms)
        if not batch:
            return batch
        deadline = time.monotonic() + self.max_wait_ms / 1000
        while len(batch) < self.batch_size and not stop.is_set():
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms < 1:
                break
            more = self.source.read(self.batch_size - len(batch), left_ms)
            if not more:
                break
            batch.extend(more)
        return batch

    def process(self, messages: Sequence[Message]) -> BatchOutcome:
        """Score one batch, write results then dead letters, then acknowledge it."""
        outcome = score_messages(messages, self.scorer(), self.source.url, self.max_deliveries)
        if outcome.results:
            self.sink.write(outcome.results)
        if outcome.dead:
            self.dead_letters.write(outcome.dead)
        self.source.ack(messages)
        stats = self.stats
        stats.batches += 1
        stats.events += len(messages)
        stats.results += len(outcome.results)
        stats.dead_letters += len(outcome.dead)
        stats.reasons.update(outcome.reasons)
        if outcome.reasons:
            log.warning("dead-lettered %d event(s): %s", len(outcome.dead), dict(outcome.reasons))
        if self.on_scored is not None and outcome.scored is not None and outcome.scored.events:
            try:
                self.on_scored(outcome.scored)
            except Exception:  # logging must never stop scoring
                log.exception("prediction log callback failed")
        return outcome

    def run(self, stop: threading.Event) -> WorkerStats:
        """Process batches until ``stop`` is set; errors back off and retry.

        A batch that could not be written or acknowledged is retried from memory, so a
        transport outage does not count as a redelivery (which would dead-letter healthy
        events after ``max_deliveries`` retries). A failed read rewinds the source, because
        the server may have handed out entries the worker never received.
        """
        backoff = 0.1
        batch: list[Message] | None = None
        while not stop.is_set():
            try:
                if batch is None:
                    batch = self.collect(stop)
                if batch:
                    self.process(batch)
                batch = None
                backoff = 0.1
            except Exception as exc:
                self.stats.errors += 1
                log.warning(
                    "stream error (%s: %s); retrying in %.1fs",
                    exc.__class__.__name__,
                    str(exc)[:200],
                    backoff,
                )
                stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                if batch is None:
                    self._rewind()
        if batch:
            log.warning("stopped with %d unacknowledged events; they stay pending", len(batch))
        log.info("worker stopped: %s", self.stats.as_dict())
        return self.stats

    def _rewind(self) -> None:
        try:
            self.source.rewind()
        except Exception as exc:
            log.warning("rewind failed: %s", exc)
