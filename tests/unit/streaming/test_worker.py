"""The worker loop against in-memory transports: batching, at least once, poison, stop."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from studentops.streaming.backends.base import Message
from studentops.streaming.worker import Worker, score_messages

from .fakes import FakeScorer, MemorySink, MemorySource, event


def make_worker(source: MemorySource, scorer: FakeScorer | None = None, **kwargs: Any) -> Worker:
    fake = scorer or FakeScorer()
    return Worker(source, MemorySink(), MemorySink(), lambda: fake, **kwargs)


def test_a_batch_closes_when_full() -> None:
    source = MemorySource([event(str(i), x=0.1) for i in range(25)])
    worker = make_worker(source, batch_size=10, max_wait_ms=10_000)
    started = time.monotonic()
    batch = worker.collect(threading.Event())
    assert len(batch) == 10
    assert time.monotonic() - started < 5  # full: no waiting for the 10 s deadline


def test_a_batch_closes_at_the_deadline_and_keeps_reading_until_then() -> None:
    class Trickle(MemorySource):
        def read(self, max_count: int, timeout_ms: int) -> list[Message]:
            time.sleep(0.01)
            return super().read(min(max_count, 1), timeout_ms)

    source = Trickle([event(str(i), x=0.1) for i in range(100)])
    worker = make_worker(source, batch_size=100, max_wait_ms=300)
    started = time.monotonic()
    batch = worker.collect(threading.Event())
    elapsed = time.monotonic() - started
    assert 2 <= len(batch) < 100
    assert 0.29 <= elapsed < 3  # generous: a loaded CI machine oversleeps
    # Later reads wait only for what is left of the deadline.
    assert source.reads[0][1] == worker.idle_block_ms
    assert all(timeout <= 300 for _, timeout in source.reads[1:])


def test_results_then_ack_and_one_model_per_batch() -> None:
    source = MemorySource([event(str(i), x=i / 10) for i in range(5)])
    worker = make_worker(source)
    outcome = worker.process(worker.collect(threading.Event()))
    assert outcome.scored is not None
    assert [e.event_id for e in outcome.scored.events] == ["0", "1", "2", "3", "4"]
    results = worker.sink.decoded()
    assert [r["event_id"] for r in results] == ["0", "1", "2", "3", "4"]
    assert results[3]["risk"] == {"score": 0.3, "band": "low"}
    assert source.acked == ["0", "1", "2", "3", "4"] and not source.pending


def test_nothing_is_acknowledged_when_a_write_fails_and_the_batch_is_retried() -> None:
    source = MemorySource([event(str(i), x=0.2) for i in range(4)])
    fake = FakeScorer()
    sink = MemorySink(fail_times=1)
    worker = Worker(source, sink, MemorySink(), lambda: fake, max_wait_ms=0)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    deadline = time.monotonic() + 5
    while len(sink.records) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    thread.join(5)
    assert worker.stats.errors == 1
    assert source.rewinds == 0  # retried from memory: not a redelivery
    assert sorted(r.event_id for r in sink.records) == ["0", "1", "2", "3"]
    assert sorted(source.acked) == ["0", "1", "2", "3"] and not source.pending


def test_dead_letter_write_failure_also_blocks_the_ack() -> None:
    source = MemorySource([b"not json", event("1", x=0.1)])
    worker = Worker(source, MemorySink(), MemorySink(fail_times=1), FakeScorer)
    with pytest.raises(Exception, match="down"):
        worker.process(worker.collect(threading.Event()))
    assert source.acked == [] and len(source.pending) == 2


def test_poison_is_isolated_and_the_rest_scored() -> None:
    payloads = [
        event("ok1", x=0.9),
        b"{broken",
        event("bad-type", x="high"),
        event("unlucky", x=13),
        None,
        event("ok2", x=0.2),
    ]
    source = MemorySource(payloads)
    fake = FakeScorer()
    worker = make_worker(source, fake)
    worker.process(worker.collect(threading.Event()))
    assert [r["event_id"] for r in worker.sink.decoded()] == ["ok1", "ok2"]
    dead = {d["message_id"]: d for d in worker.dead_letters.decoded()}
    assert {k: d["reason"] for k, d in dead.items()} == {
        "1": "not_json",
        "2": "invalid_features",
        "3": "scoring_failed",
        "4": "missing_payload",
    }
    assert "x: wrong type" in dead["2"]["detail"]
    assert "ArithmeticError" in dead["3"]["detail"]
    assert len(source.acked) == 6  # poison is acknowledged: the worker carries on
    assert worker.stats.reasons["scoring_failed"] == 1


def test_a_clean_batch_is_scored_in_one_call() -> None:
    fake = FakeScorer()
    source = MemorySource([event(str(i), x=0.5) for i in range(50)])
    worker = make_worker(source, fake, batch_size=50)
    worker.process(worker.collect(threading.Event()))
    assert fake.batches == [50]


def test_events_delivered_too_often_are_dead_lettered_unscored() -> None:
    messages = [Message("1", event("a", x=0.1), deliveries=6), Message("2", event("b", x=0.1))]
    outcome = score_messages(messages, FakeScorer(), "memory://events", max_deliveries=5)
    assert outcome.reasons == {"too_many_deliveries": 1}
    assert [m.id for m in outcome.result_messages] == ["2"]


def test_stop_finishes_the_batch_in_hand() -> None:
    source = MemorySource([event(str(i), x=0.1) for i in range(3)])
    stop = threading.Event()

    class StopDuringScoring(FakeScorer):
        def score_batch(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
            stop.set()  # SIGTERM arrives mid-batch
            return super().score_batch(records)

    fake = StopDuringScoring()
    worker = Worker(source, MemorySink(), MemorySink(), lambda: fake, max_wait_ms=0)
    stats = worker.run(stop)
    assert stats.results == 3 and source.acked == ["0", "1", "2"]


def test_a_failing_prediction_log_does_not_stop_scoring() -> None:
    def broken(batch: Any) -> None:
        raise RuntimeError("log down")

    source = MemorySource([event("1", x=0.1)])
    worker = make_worker(source, on_scored=broken)
    worker.process(worker.collect(threading.Event()))
    assert source.acked == ["0"]


def test_the_scorer_is_fetched_per_batch() -> None:
    scorers = iter([FakeScorer("1"), FakeScorer("2")])
    source = MemorySource([event("a", x=0.1)])
    worker = Worker(source, MemorySink(), MemorySink(), lambda: next(scorers))
    worker.process(worker.collect(threading.Event()))
    source.add(event("b", x=0.1))
    worker.process(worker.collect(threading.Event()))
    assert [r["model_version"] for r in worker.sink.decoded()] == ["1", "2"]


def test_a_failed_read_rewinds_the_source() -> None:
    class FlakyRead(MemorySource):
        def __init__(self, payloads: list[bytes]) -> None:
            super().__init__(payloads)
            self.fail = True

        def read(self, max_count: int, timeout_ms: int) -> list[Message]:
            if self.fail:
                self.fail = False
                super().read(max_count, timeout_ms)  # handed out, then the connection drops
                raise ConnectionError("reset by peer")
            return super().read(max_count, timeout_ms)

    source = FlakyRead([event(str(i), x=0.2) for i in range(3)])
    worker = make_worker(source, max_wait_ms=0)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    deadline = time.monotonic() + 5
    while len(source.acked) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    thread.join(5)
    assert source.rewinds == 1 and sorted(source.acked) == ["0", "1", "2"]
