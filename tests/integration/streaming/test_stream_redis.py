"""Redis Streams end to end on a real redis-server: scoring, poison, recovery, SIGKILL, SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from stream_model import event_payloads

from studentops.config import load_settings
from studentops.monitoring.predlog import read_predictions
from studentops.monitoring.pseudonym import Pseudonymiser
from studentops.streaming.backends.base import OutRecord
from studentops.streaming.backends.redis_streams import RedisStreamSink, RedisStreamSource
from studentops.streaming.scoring import PredictorScorer
from studentops.streaming.service import run_stream
from studentops.streaming.worker import Worker

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent

GROUP = "studentops"


def produce(client: redis.Redis, stream: str, payloads: list[bytes], chunk: int = 500) -> list[str]:
    ids: list[str] = []
    for start in range(0, len(payloads), chunk):
        pipe = client.pipeline(transaction=False)
        for data in payloads[start : start + chunk]:
            pipe.xadd(stream, {"data": data})
        ids.extend(i.decode() for i in pipe.execute())
    return ids


def records(client: redis.Redis, stream: str) -> list[dict[str, Any]]:
    entries: Any = client.xrange(stream)
    return [orjson.loads(fields[b"data"]) for _, fields in entries]


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def pending(client: redis.Redis, stream: str, consumer: str | None = None) -> int:
    if consumer is None:
        return int(client.xpending(stream, GROUP)["pending"])
    return len(client.xpending_range(stream, GROUP, "-", "+", 100_000, consumername=consumer))


# -- in-process --------------------------------------------------------------------------------


def test_poison_events_go_to_dead_letters_with_reasons_and_good_ones_are_scored(
    redis_url: str, predictor: Any, stream_env: dict[str, str]
) -> None:
    client = redis.Redis.from_url(redis_url)
    good = event_payloads(300, prefix="g")
    features = orjson.loads(good[0][1])["features"]
    poison = {
        "not-json": b"{not json",
        "array": b"[1, 2, 3]",
        "no-features": orjson.dumps({"event_id": "p-nofeat", "student_id": "s"}),
        "no-event-id": orjson.dumps({"student_id": "s", "features": features}),
        "bool-student": orjson.dumps({"event_id": "p-bool", "student_id": True, "features": {}}),
        "unknown-category": orjson.dumps(
            {"event_id": "p-cat", "student_id": "s", "features": {**features, "Course": 1}}
        ),
        "out-of-range": orjson.dumps(
            {
                "event_id": "p-range",
                "student_id": "s",
                "features": {**features, "Age at enrollment": -4},
            }
        ),
        "wrong-type": orjson.dumps(
            {
                "event_id": "p-type",
                "student_id": "s",
                "features": {**features, "Admission grade": "high"},
            }
        ),
    }
    mixed = [data for _, data in good[:150]] + list(poison.values()) + [d for _, d in good[150:]]
    produce(client, "events", mixed)
    client.xadd("events", {"other": "no data field"})
    total = len(mixed) + 1

    stop = threading.Event()
    scorer = PredictorScorer(predictor)
    out: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: out.update(
            stats=run_stream(
                f"{redis_url}/0/events",
                f"{redis_url}/0/results",
                consumer="w1",
                scorer=lambda: scorer,
                stop=stop,
            )
        )
    )
    thread.start()
    try:
        wait_for(
            lambda: client.xlen("results") + client.xlen("events-dead") >= total, 30, "all events"
        )
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()

    results = records(client, "results")
    assert sorted(r["event_id"] for r in results) == sorted(e for e, _ in good)
    first = results[0]
    assert set(first) == {
        "event_id",
        "student_id",
        "prediction",
        "probabilities",
        "risk",
        "model_version",
        "scored_at",
    }
    assert first["prediction"] in ("Dropout", "Not dropout")
    assert set(first["probabilities"]) == {"Dropout", "Not dropout"}
    assert first["risk"]["band"] in ("low", "medium", "high")
    assert first["model_version"] == "1"

    dead = records(client, "events-dead")
    by_reason = Counter(d["reason"] for d in dead)
    assert by_reason == {
        "not_json": 1,
        "not_an_object": 1,
        "missing_field": 2,
        "bad_field": 1,
        "invalid_features": 3,
        "missing_payload": 1,
    }
    by_event = {d["event_id"]: d for d in dead if d["event_id"]}
    assert (
        "Course" in by_event["p-cat"]["detail"]
        and "unknown category" in by_event["p-cat"]["detail"]
    )
    assert "Age at enrollment" in by_event["p-range"]["detail"]
    assert "Admission grade" in by_event["p-type"]["detail"]
    assert by_event["p-nofeat"]["reason"] == "missing_field"
    not_json = next(d for d in dead if d["reason"] == "not_json")
    assert not_json["payload"] == "{not json" and not_json["source"].endswith("/0/events")
    no_data = next(d for d in dead if d["reason"] == "missing_payload")
    assert no_data["payload"] == {"other": "no data field"}
    assert pending(client, "events") == 0
    assert out["stats"].results == 300 and out["stats"].dead_letters == 9

    # Logged like the API: pseudonymised ids only.
    settings = load_settings()
    logged = read_predictions(settings.prediction_log)
    assert len(logged) == 300
    assert set(logged["source"]) == {"stream"}
    assert "s0" not in set(logged["student_key"])
    assert Pseudonymiser(settings.pseudonym_key)("s0") in set(logged["student_key"])


def test_restarted_consumer_takes_back_its_own_pending_entries(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    ids = produce(client, "events", [d for _, d in event_payloads(5)])
    first = RedisStreamSource(f"{redis_url}/events", "w1")
    read = first.read(10, 100)
    assert [m.id for m in read] == ids
    # "Crash": nothing acknowledged. The same consumer name starts again.
    again = RedisStreamSource(f"{redis_url}/events", "w1")
    replay = again.read(10, 100)
    assert [m.id for m in replay] == ids
    assert all(m.deliveries == 2 for m in replay)
    assert again.read(10, 50) == []  # nothing new, nothing duplicated
    again.ack(replay)
    assert pending(client, "events") == 0


def test_stale_pending_entries_are_claimed_and_repeat_offenders_dead_lettered(
    redis_url: str, predictor: Any
) -> None:
    client = redis.Redis.from_url(redis_url)
    produce(client, "events", [d for _, d in event_payloads(6)])
    crashed = RedisStreamSource(f"{redis_url}/events", "crashed", claim_idle_ms=100)
    taken = crashed.read(3, 100)
    assert len(taken) == 3  # read, never acknowledged
    time.sleep(0.25)
    survivor = RedisStreamSource(f"{redis_url}/events", "survivor", claim_idle_ms=100)
    claimed = survivor.read(10, 100)
    assert [m.id for m in claimed] == [m.id for m in taken]
    assert all(m.deliveries == 2 for m in claimed)
    assert pending(client, "events", "crashed") == 0

    # A worker that allows one delivery dead-letters what was already delivered twice.
    worker = Worker(
        survivor,
        RedisStreamSink(f"{redis_url}/results"),
        RedisStreamSink(f"{redis_url}/events-dead"),
        lambda: PredictorScorer(predictor),
        max_deliveries=1,
    )
    worker.process(claimed)
    rest = survivor.read(10, 100)
    worker.process(rest)
    assert [d["reason"] for d in records(client, "events-dead")] == ["too_many_deliveries"] * 3
    assert client.xlen("results") == 3
    assert pending(client, "events") == 0


def test_sink_error_leaves_the_batch_pending_and_it_is_retried(
    redis_url: str, predictor: Any
) -> None:
    client = redis.Redis.from_url(redis_url)
    produce(client, "events", [d for _, d in event_payloads(20)])
    source = RedisStreamSource(f"{redis_url}/events", "w1")
    sink = RedisStreamSink(f"{redis_url}/results")
    calls = {"n": 0}
    real_write = sink.write

    def flaky(batch: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("results stream unreachable")
        real_write(batch)

    sink.write = flaky
    worker = Worker(
        source, sink, RedisStreamSink(f"{redis_url}/dead"), lambda: PredictorScorer(predictor)
    )
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        wait_for(lambda: client.xlen("results") >= 20, 15, "results after the retry")
    finally:
        stop.set()
        thread.join(10)
    assert worker.stats.errors == 1
    assert sorted(r["event_id"] for r in records(client, "results")) == sorted(
        e for e, _ in event_payloads(20)
    )
    assert pending(client, "events") == 0


# -- worker processes --------------------------------------------------------------------------


def start_workers(
    redis_url: str, consumers: list[str], env: dict[str, str], log: Path
) -> list[subprocess.Popen[bytes]]:
    """Worker processes, returned once all are ready (model built, signal handlers set)."""
    started = []
    for consumer in consumers:
        ready = log.with_name(f"{consumer}-{time.monotonic_ns()}.ready")
        cmd = [
            sys.executable,
            str(HERE / "worker_main.py"),
            *("--ready-file", str(ready), "--consumer", consumer),
            *("--source", f"{redis_url}/0/events", "--sink", f"{redis_url}/0/results"),
            *("--batch-size", "200", "--max-wait-ms", "20"),
        ]
        with log.open("ab") as handle:
            proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=handle, stderr=handle)
        started.append((proc, ready))
    for proc, ready in started:
        wait_for(lambda: ready.exists() or proc.poll() is not None, 60, "a worker to start")  # noqa: B023
        assert proc.poll() is None, log.read_text()[-3000:]
    return [proc for proc, _ in started]


def kill_while_holding_a_batch(
    proc: subprocess.Popen[bytes], client: redis.Redis, consumer: str
) -> int:
    """SIGKILL the worker at a moment it holds unacknowledged events (frozen with SIGSTOP
    first, so the check and the kill see the same state). Returns how many it held."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        os.kill(proc.pid, signal.SIGSTOP)
        held = pending(client, "events", consumer)
        if held:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            return held
        os.kill(proc.pid, signal.SIGCONT)
        time.sleep(0.01)
    raise AssertionError("the worker never held a batch")


def produce_paced(client: redis.Redis, payloads: list[bytes], per_second: int) -> threading.Thread:
    """Send payloads in the background at about ``per_second``."""
    chunk = max(1, per_second // 10)

    def run() -> None:
        for i in range(0, len(payloads), chunk):
            produce(client, "events", payloads[i : i + chunk])
            time.sleep(0.1)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_sigkill_mid_batch_loses_nothing_and_sigterm_drains(
    redis_url: str, stream_env: dict[str, str], tmp_path: Path
) -> None:
    """10,000 events, two workers. A is SIGKILLed holding a batch and restarted under its
    name; B is SIGTERMed while busy and must leave nothing pending. Every event comes out,
    exactly once after de-duplication, and nothing stays pending."""
    client = redis.Redis.from_url(redis_url)
    sent = event_payloads(10_000)
    payloads = [d for _, d in sent]
    client.xgroup_create("events", GROUP, id="0", mkstream=True)
    log = tmp_path / "workers.log"
    a, b = start_workers(redis_url, ["a", "b"], stream_env, log)
    try:
        first = produce_paced(client, payloads[:5_000], per_second=2_500)
        wait_for(lambda: client.xlen("results") >= 2_000, 60, "results from both workers")
        held = kill_while_holding_a_batch(a, client, "a")
        assert a.returncode == -signal.SIGKILL
        (a,) = start_workers(redis_url, ["a"], stream_env, log)  # restarted, same name
        first.join(60)
        second = produce_paced(client, payloads[5_000:], per_second=2_500)
        done = client.xlen("results")
        wait_for(lambda: client.xlen("results") >= done + 1_000, 60, "both workers busy again")
        b.send_signal(signal.SIGTERM)
        assert b.wait(20) == 0, log.read_text()[-3000:]
        assert pending(client, "events", "b") == 0  # its batch in hand was written and acked
        assert b"b" not in [c["name"] for c in client.xinfo_consumers("events", GROUP)]
        second.join(60)

        def all_scored() -> bool:
            ids = {r["event_id"] for r in records(client, "results")}
            return len(ids) == len(sent) and pending(client, "events") == 0

        wait_for(all_scored, 60, "every event scored and acknowledged")
        a.send_signal(signal.SIGTERM)
        assert a.wait(20) == 0, log.read_text()[-3000:]
    finally:
        for proc in (a, b):
            if proc.poll() is None:
                proc.kill()

    seen = Counter(r["event_id"] for r in records(client, "results"))
    assert set(seen) == {e for e, _ in sent}  # every event, after de-duplication exactly once
    assert sum(seen.values()) - len(seen) <= held  # replays are at most what A held
    assert pending(client, "events") == 0
    assert client.xlen("events-dead") == 0


def test_sink_appends_in_order_and_trims_to_maxlen(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    records = [OutRecord("k", orjson.dumps({"n": i}), f"e{i}") for i in range(2_500)]
    RedisStreamSink(f"{redis_url}/0/out").write(records)
    entries: Any = client.xrange("out")
    assert [orjson.loads(f[b"data"])["n"] for _, f in entries] == list(range(2_500))
    assert entries[7][1][b"event_id"] == b"e7"
    RedisStreamSink(f"{redis_url}/0/short?maxlen=100").write(records)
    assert client.xlen("short") < 500  # approximate trimming: whole nodes only
