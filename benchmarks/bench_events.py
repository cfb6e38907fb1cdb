"""Benchmark: 10 million clicks + submissions for 100,000 students -> 40 weeks of features.

Targets: weekly features in at most 60 s and 4 GB peak memory on 2 cores. Prints the time and
peak resident memory of each stage (peak sampled every 20 ms by a thread reading /proc, and the
process-wide ``ru_maxrss``), then runs the straightforward pandas implementation
(:mod:`studentops.events.reference`: filter per cut-off + groupby) on a sample of students,
asserts both give the same features, and extrapolates the pandas cost to the full population.

    .venv/bin/python benchmarks/bench_events.py [--students 100000] [--clicks 100] [--sample 2000]
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import polars as pl

from studentops.events.cleaning import clean_events
from studentops.events.oulad import log_from_tables
from studentops.events.reference import feature_differences, reference_weekly_features
from studentops.events.schema import KEY, EventLog
from studentops.events.synthetic import generate_oulad
from studentops.events.weekly import build_weekly_features, feature_names

PAGE = os.sysconf("SC_PAGE_SIZE")
LIMIT_S, LIMIT_GB = 60.0, 4.0


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE


class PeakRSS:
    """Samples the resident set size in a thread; ``peak`` is the largest seen in the block."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(self.interval)

    def __enter__(self) -> PeakRSS:
        self.peak = rss_bytes()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


def stage(name: str, fn: Callable[[], Any]) -> tuple[Any, float, int]:
    gc.collect()
    with PeakRSS() as mem:
        started = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - started
    print(f"{name:<28} {seconds:8.2f} s   peak RSS {mem.peak / 1e9:6.2f} GB")
    return result, seconds, mem.peak


def sample_log(log: EventLog, students: pl.DataFrame, n: int) -> tuple[EventLog, pl.DataFrame]:
    chosen = students.head(n)
    keys = chosen.select(KEY)
    events = log.events.join(keys, on=list(KEY), how="semi", maintain_order="left")
    return EventLog(events, log.assessments, log.presentations), chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--clicks", type=float, default=100.0, help="activity rows per student")
    parser.add_argument("--weeks", type=int, default=40)
    parser.add_argument("--sample", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    weeks = list(range(1, args.weeks + 1))
    print(f"polars {pl.__version__}, {os.cpu_count()} CPU(s), {pl.thread_pool_size()} threads")

    tables, _, _ = stage(
        "synthesise", lambda: generate_oulad(args.students, args.seed, args.clicks)
    )
    n_clicks = tables["studentVle"].height
    n_subs = tables["studentAssessment"].height
    (log, students), _, _ = stage("adapt to event schema", partial(log_from_tables, tables))
    del tables
    cleaned, clean_s, _ = stage("clean (all rules)", partial(clean_events, log))
    del log
    clean_log = cleaned.log
    features, feat_s, feat_peak = stage(
        f"weekly features x{len(weeks)}",
        lambda: build_weekly_features(clean_log, students, weeks),
    )
    print(
        f"\n{args.students:,} students, {n_clicks:,} click rows + {n_subs:,} submissions "
        f"-> {features.height:,} rows x {features.width} columns"
    )
    print(
        f"cleaning removed {cleaned.report.removed:,} events: {cleaned.report.summary()['rules']}"
    )
    process_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        f"features: {feat_s:.1f} s (limit {LIMIT_S:.0f}), peak RSS {feat_peak / 1e9:.2f} GB "
        f"(limit {LIMIT_GB:.0f}); clean + features {clean_s + feat_s:.1f} s; "
        f"process ru_maxrss {process_peak / 1e9:.2f} GB (includes synthesis)"
    )
    per_student_fast = feat_s / args.students
    del features
    gc.collect()

    sample, sample_students = sample_log(clean_log, students, args.sample)
    fast, fast_s, _ = stage(
        f"polars on {args.sample:,} sample",
        lambda: build_weekly_features(sample, sample_students, weeks, activity=True),
    )
    slow, slow_s, _ = stage(
        f"pandas on {args.sample:,} sample",
        lambda: reference_weekly_features(sample, sample_students, weeks, activity=True),
    )
    for key in (*KEY, "week"):
        assert (fast[key].to_numpy() == slow[key].to_numpy()).all(), f"row order differs: {key}"
    differences = feature_differences(fast, slow, feature_names(True))
    assert not differences, f"implementations disagree: {differences}"
    per_student_slow = slow_s / args.sample
    print(
        f"\nsame features on the sample ({fast.height:,} rows, "
        f"{len(feature_names(True))} features): OK"
    )
    print(
        f"per student: polars {per_student_fast * 1e6:.1f} us (full run), "
        f"{fast_s / args.sample * 1e6:.1f} us (sample); pandas {per_student_slow * 1e3:.2f} ms "
        f"-> pandas for {args.students:,} students ~ {per_student_slow * args.students / 60:.1f} "
        f"min ({per_student_slow / per_student_fast:.0f}x the vectorised run)"
    )
    ok = feat_s <= LIMIT_S and feat_peak <= LIMIT_GB * 1e9
    print("within targets" if ok else "OUTSIDE TARGETS")


if __name__ == "__main__":
    main()
