"""Streaming benchmark (`make bench-stream`): events/s end to end and latency, on Redis Streams.

Starts its own redis-server on a free loopback port (no persistence) and worker processes that
run the product's ``run_stream`` (micro-batching, prediction log, acknowledgements) with a real
StudentModel (profile encoder + LightGBM, trained here in a second on a synthetic cohort), then:

1. throughput: a producer sends N events as fast as it can; events/s = N / (first send -> last
   result in the output stream), with one worker and with two workers of one consumer group;
2. latency: a producer paced at 1,000 events/s for a few seconds, two workers; latency of an
   event = the output entry's id time - the input entry's id time (both Redis server clock, ms).

Clocks start once every worker waits in XREADGROUP (start-up and model loading are not
counted). CPU per event of the workers, redis-server and the producer comes from /proc over the
timed window; with it the script also prints the rate those costs allow on this machine's cores
if nothing else ran, because a shared machine's load moves the wall-clock figures.

Targets on 2 cores: >= 5,000 events/s with two workers; p99 < 250 ms at 1,000 events/s.
Bounded: fixed event counts, a time limit per phase, loopback only, everything stopped at exit.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROFILE = "uci-dropout-binary"
PHASE_TIMEOUT_S = 180.0
TARGET_EPS = 5_000
TARGET_P99_MS = 250.0
GROUP = "studentops"


# -- the model and the events -------------------------------------------------------------------


def train_predictor() -> Any:
    """A real StudentModel with one LightGBM member behind the serving Predictor."""
    from lightgbm import LGBMClassifier

    from studentops.datasets.profile import load_profile
    from studentops.datasets.synthetic import generate_cohort
    from studentops.features.encode import ProfileEncoder
    from studentops.serving.predictor import ModelInfo, Predictor
    from studentops.training.model import Member, StudentModel, class_codes

    profile = load_profile(PROFILE)
    frame = generate_cohort(profile, 4_000, seed=7)
    encoder = ProfileEncoder(profile).fit(frame)
    y = class_codes(profile.target_values(frame), profile.class_order())
    clf = LGBMClassifier(n_estimators=100, num_leaves=31, n_jobs=1, random_state=1, verbose=-1)
    clf.fit(encoder.transform(frame), y)
    member = Member("lightgbm", {}, [clf], "classifier", n_classes=2)
    model = StudentModel(profile, encoder, [member], [1.0], "roc_auc", float("nan"), threshold=0.5)
    return Predictor(model, ModelInfo("bench-dropout", "1", profile.name))


def make_payloads(count: int) -> list[bytes]:
    import orjson

    from studentops.datasets.profile import load_profile
    from studentops.datasets.synthetic import generate_cohort

    profile = load_profile(PROFILE)
    frame = generate_cohort(profile, min(count, 5_000), seed=11)
    records = [
        {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in r.items()}
        for r in frame[profile.feature_columns].to_dict("records")
    ]
    return [
        orjson.dumps(
            {"event_id": f"e{i}", "student_id": f"s{i}", "features": records[i % len(records)]}
        )
        for i in range(count)
    ]


# -- worker process -----------------------------------------------------------------------------


def worker_main(args: argparse.Namespace) -> None:
    from studentops.streaming.scoring import PredictorScorer
    from studentops.streaming.service import run_stream, stop_on_signals

    scorer = PredictorScorer(train_predictor())
    with stop_on_signals(threading.Event()) as stop:
        stats = run_stream(
            args.source, args.sink, consumer=args.consumer, scorer=lambda: scorer, stop=stop
        )
    Path(args.report).write_text(json.dumps(stats.as_dict()))


# -- harness --------------------------------------------------------------------------------------


def _load_redis_local() -> Any:
    """The tests' local redis-server helper (tests/integration/redis_local.py), by path."""
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "tests" / "integration" / "redis_local.py"
    spec = importlib.util.spec_from_file_location("studentops_bench_redis_local", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def redis_server(folder: Path) -> Iterator[tuple[str, int]]:
    """A local redis-server for the run: (url, pid)."""
    try:
        with _load_redis_local().redis_server(folder) as (url, proc):
            yield url, proc.pid
    except RuntimeError as exc:
        sys.exit(str(exc))


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Throughput:
    """One throughput run: events/s and CPU µs per event of each part."""

    workers: int
    events_per_s: float
    worker_us: float
    redis_us: float
    producer_us: float
    mean_batch: float

    @property
    def capacity(self) -> float:
        """Events/s the run's CPU cost allows if nothing else ran on this machine's cores
        (each worker is one process: it cannot use more than one core)."""
        total = self.worker_us + self.redis_us + self.producer_us
        return min((os.cpu_count() or 1) * 1e6 / total, self.workers * 1e6 / self.worker_us)


@dataclass
class Workers:
    pids: list[int]
    reports: list[dict[str, Any]] = field(default_factory=list)

    def cpu_s(self) -> float:
        return sum(process_cpu_s(pid) for pid in self.pids)


@contextlib.contextmanager
def workers(url: str, prefix: str, count: int, folder: Path) -> Iterator[Workers]:
    """``count`` worker processes on ``<prefix>-events`` -> ``<prefix>-results``, ready on entry.

    Yields their pids, and their counters once they have stopped.
    """
    import redis

    env = {
        **os.environ,
        "STUDENTOPS_HOME": str(folder / "state"),
        "STUDENTOPS_CONFIG": str(folder / "none.yaml"),
    }
    procs = []
    reports_at = []
    for i in range(count):
        report = folder / f"{prefix}-{i}.json"
        cmd = [
            *(sys.executable, __file__, "--worker", "--report", str(report)),
            *("--consumer", f"w{i}"),
            *("--source", f"{url}/0/{prefix}-events", "--sink", f"{url}/0/{prefix}-results"),
        ]
        procs.append(subprocess.Popen(cmd, env=env))
        reports_at.append(report)
    try:
        # Ready means reading: every worker waits in XREADGROUP (its connection is named
        # after it), not merely started, or the first events would wait for its imports.
        client = redis.Redis.from_url(url, decode_responses=True)
        names = {f"studentops-worker-w{i}" for i in range(count)}
        deadline = time.monotonic() + 120
        while True:
            reading = {c["name"] for c in client.client_list() if c["cmd"] == "xreadgroup"}
            if names <= reading:
                break
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                codes = [p.poll() for p in procs]
                raise RuntimeError(f"workers did not start (exit codes {codes})")
            time.sleep(0.05)
        client.close()
        running = Workers([p.pid for p in procs])
        yield running
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
    running.reports.extend(json.loads(r.read_text()) for r in reports_at)


def throughput(
    url: str, redis_pid: int, payloads: list[bytes], prefix: str, count: int, folder: Path
) -> Throughput:
    """Send every payload as fast as possible; time until the last result is in."""
    import redis

    client = redis.Redis.from_url(url)
    client.xgroup_create(f"{prefix}-events", GROUP, id="0", mkstream=True)
    with workers(url, prefix, count, folder) as running:
        worker_cpu = running.cpu_s()
        redis_cpu, producer_cpu = process_cpu_s(redis_pid), time.process_time()
        started = time.perf_counter()
        for i in range(0, len(payloads), 1_000):
            pipe = client.pipeline(transaction=False)
            for data in payloads[i : i + 1_000]:
                pipe.xadd(f"{prefix}-events", {"data": data})
            pipe.execute()
        deadline = time.monotonic() + PHASE_TIMEOUT_S
        while client.xlen(f"{prefix}-results") < len(payloads):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{prefix}: not done within {PHASE_TIMEOUT_S}s")
            time.sleep(0.005)
        elapsed = time.perf_counter() - started
        worker_cpu = running.cpu_s() - worker_cpu
        redis_cpu = process_cpu_s(redis_pid) - redis_cpu
        producer_cpu = time.process_time() - producer_cpu
    client.close()
    per_event = 1e6 / len(payloads)
    return Throughput(
        workers=count,
        events_per_s=len(payloads) / elapsed,
        worker_us=worker_cpu * per_event,
        redis_us=redis_cpu * per_event,
        producer_us=producer_cpu * per_event,
        mean_batch=sum(r["events"] for r in running.reports)
        / max(1, sum(r["batches"] for r in running.reports)),
    )


def latency(url: str, payloads: list[bytes], rate: int, folder: Path) -> list[float]:
    import orjson
    import redis

    client = redis.Redis.from_url(url)
    client.xgroup_create("lat-events", GROUP, id="0", mkstream=True)
    sent: dict[str, int] = {}
    with workers(url, "lat", 2, folder):
        tick = 0.005
        per_tick = max(1, round(rate * tick))
        started = time.perf_counter()
        for n, i in enumerate(range(0, len(payloads), per_tick)):
            pause = started + n * tick - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            pipe = client.pipeline(transaction=False)
            chunk = payloads[i : i + per_tick]
            for data in chunk:
                pipe.xadd("lat-events", {"data": data})
            for data, entry_id in zip(chunk, pipe.execute(), strict=True):
                sent[orjson.loads(data)["event_id"]] = int(entry_id.split(b"-")[0])
        deadline = time.monotonic() + PHASE_TIMEOUT_S
        while client.xlen("lat-results") < len(payloads):
            if time.monotonic() > deadline:
                raise RuntimeError("latency phase not done in time")
            time.sleep(0.01)
    out = []
    seen = set()
    entries: Any = client.xrange("lat-results")
    for entry_id, fields in entries:
        event_id = fields[b"event_id"].decode()
        if event_id not in seen:
            seen.add(event_id)
            out.append(int(entry_id.split(b"-")[0]) - sent[event_id])
    client.close()
    return sorted(float(x) for x in out)


def percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=40_000, help="events per throughput run")
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=1_000, help="paced events/s for latency")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--report", help=argparse.SUPPRESS)
    parser.add_argument("--consumer", help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--sink", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(args)
        return

    payloads = make_payloads(args.events)
    paced = make_payloads(int(args.rate * args.latency_seconds))
    folder = Path(tempfile.mkdtemp(prefix="bench-stream-"))
    load_before = os.getloadavg()[0]
    try:
        with redis_server(folder) as (url, redis_pid):
            one = throughput(url, redis_pid, payloads, "one", 1, folder)
            two = throughput(url, redis_pid, payloads, "two", 2, folder)
            lat = latency(url, paced, args.rate, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    load_after = os.getloadavg()[0]

    p50, p99 = percentile(lat, 0.50), percentile(lat, 0.99)
    cores = os.cpu_count()
    print(f"\nstreaming benchmark: Redis Streams, {cores} cores, {args.events:,} events per run")
    print(
        f"  machine load average {load_before:.1f} before, {load_after:.1f} after"
        " (1.0 = one busy core)"
    )
    for name, run in (("1 worker ", one), ("2 workers", two)):
        verdict = ""
        if run is two:
            passed = two.events_per_s >= TARGET_EPS
            verdict = f"   target >= {TARGET_EPS:,}: {'PASS' if passed else 'FAIL'}"
        print(f"  throughput, {name}: {run.events_per_s:7,.0f} events/s{verdict}")
        print(
            f"      CPU per event: workers {run.worker_us:.0f} µs + redis {run.redis_us:.0f} µs"
            f" + producer {run.producer_us:.0f} µs (batches of {run.mean_batch:.0f})"
            f" -> {run.capacity:,.0f} events/s if the {cores} cores were ours alone"
        )
    print(
        f"  latency at {args.rate:,} events/s, 2 workers ({len(lat):,} events): "
        f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {lat[-1]:.0f} ms"
        f"   target p99 < {TARGET_P99_MS:.0f} ms: {'PASS' if p99 < TARGET_P99_MS else 'FAIL'}"
    )


if __name__ == "__main__":
    main()
