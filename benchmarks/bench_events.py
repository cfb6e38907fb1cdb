"""Benchmark (issue 6): 10 million clicks + submissions for 100,000 students -> 40 weeks.

Target: the whole path from the event log on disk to weekly features (read + adapt, clean,
features) in at most 60 s and 4 GB peak memory on 2 cores.

How it measures, so the figures mean what they say:

* the synthetic OULAD-shaped folder (CSV, as ``studentops events features --oulad`` reads it) is
  written first, then the path runs in a **fresh child process**, so nothing left over from
  generating the data counts against it;
* per stage: wall time, CPU time (user + system, all threads; when wall time is far above CPU
  time / threads the machine was busy with something else) and peak resident memory, sampled
  every 20 ms from ``/proc``; for the whole path, the child's ``ru_maxrss`` (kernel-recorded, so
  no peak can slip between samples; it includes the interpreter and imports);
* side by side in the same run, the straightforward pandas implementation
  (:mod:`studentops.events.reference`: filter per cut-off + groupby) and the vectorised one on
  the same sample of students: both must give the same features, and the pandas cost is
  extrapolated to the full population.

    .venv/bin/python benchmarks/bench_events.py [--students 100000] [--clicks 100] [--sample 2000]
        [--data DIR]    # reuse (or keep) the generated folder instead of a temporary one
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import polars as pl

PAGE = os.sysconf("SC_PAGE_SIZE")
LIMIT_S, LIMIT_GB = 60.0, 4.0
RESULT = "RESULT "


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


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


def stage(name: str, fn: Callable[[], Any], record: list[dict[str, Any]]) -> Any:
    """Run ``fn`` and print (and record) its wall time, CPU time and peak RSS."""
    gc.collect()
    with PeakRSS() as mem:
        cpu = cpu_seconds()
        started = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - started
        cpu = cpu_seconds() - cpu
    print(
        f"  {name:<30} {seconds:7.2f} s wall {cpu:7.2f} s CPU   peak RSS {mem.peak / 1e9:5.2f} GB",
        flush=True,
    )
    record.append({"stage": name, "s": seconds, "cpu_s": cpu, "peak": mem.peak})
    return result


# -- the measured path, in its own process ------------------------------------------------------


def run_path(folder: Path, weeks: list[int]) -> None:
    """Read, clean and featurise ``folder``; print the stages and a RESULT line for the parent."""
    from studentops.events.cleaning import clean_events
    from studentops.events.oulad import read_oulad
    from studentops.events.weekly import build_weekly_features

    record: list[dict[str, Any]] = []
    baseline = rss_bytes()
    log, students = stage("read + adapt (read_oulad)", lambda: read_oulad(folder), record)
    n_events = log.events.height
    cleaned = stage("clean (all rules)", partial(clean_events, log), record)
    del log  # as a pipeline would: only the cleaned log lives on
    features = stage(
        f"weekly features x{len(weeks)}",
        lambda: build_weekly_features(cleaned.log, students, weeks),
        record,
    )
    summary = {
        "stages": record,
        "events_in": n_events,
        "events_out": cleaned.report.events_out,
        "removed": cleaned.report.removed,
        "rules": cleaned.report.summary()["rules"],
        "rows": features.height,
        "columns": features.width,
        "estimated_mb": features.estimated_size() / 1e6,
        "baseline_rss": baseline,
        "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    print(RESULT + json.dumps(summary), flush=True)


# -- the pandas yardstick on a sample -----------------------------------------------------------


def sample_tables(tables: dict[str, pl.DataFrame], n: int) -> dict[str, pl.DataFrame]:
    """The OULAD tables restricted to the first ``n`` students of ``studentInfo``."""
    chosen = tables["studentInfo"]["id_student"].head(n).implode()
    return {
        name: frame.filter(pl.col("id_student").is_in(chosen))
        if "id_student" in frame.columns
        else frame
        for name, frame in tables.items()
    }


def compare_on_sample(
    tables: dict[str, pl.DataFrame], n: int, weeks: list[int]
) -> tuple[float, float, int]:
    """Seconds of the vectorised and the pandas features on ``n`` students; asserts equality."""
    from studentops.events.cleaning import clean_events
    from studentops.events.oulad import log_from_tables
    from studentops.events.reference import feature_differences, reference_weekly_features
    from studentops.events.schema import KEY
    from studentops.events.weekly import build_weekly_features, feature_names

    log, students = log_from_tables(sample_tables(tables, n))
    clean = clean_events(log).log
    record: list[dict[str, Any]] = []
    fast = stage(
        f"vectorised on {n:,} students",
        lambda: build_weekly_features(clean, students, weeks, activity=True),
        record,
    )
    slow = stage(
        f"pandas on {n:,} students",
        lambda: reference_weekly_features(clean, students, weeks, activity=True),
        record,
    )
    for key in (*KEY, "week"):
        ours = fast[key].cast(pl.String).to_list()
        assert ours == slow[key].astype(str).tolist(), f"row order differs: {key}"
    differences = feature_differences(fast, slow, feature_names(True))
    assert not differences, f"implementations disagree: {differences}"
    print(f"  same features ({fast.height:,} rows x {len(feature_names(True))} features): OK")
    return record[0]["s"], record[1]["s"], fast.height


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--clicks", type=float, default=100.0, help="activity rows per student")
    parser.add_argument("--weeks", type=int, default=40)
    parser.add_argument("--sample", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data", type=Path, help="folder for the generated CSVs (kept)")
    parser.add_argument("--path-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    weeks = list(range(1, args.weeks + 1))
    if args.path_only:
        run_path(args.path_only, weeks)
        return

    from studentops.events.synthetic import generate_oulad, write_oulad

    print(
        f"polars {pl.__version__}, {os.cpu_count()} CPU(s), {pl.thread_pool_size()} threads; "
        f"load average {load_average()}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-events-") as tmp:
        folder = args.data or Path(tmp) / "oulad"
        started = time.perf_counter()
        tables = generate_oulad(args.students, args.seed, args.clicks)
        write_oulad(tables, folder)
        size = sum(p.stat().st_size for p in folder.glob("*.csv"))
        print(
            f"generated {args.students:,} students in {time.perf_counter() - started:.1f} s: "
            f"{tables['studentVle'].height:,} click rows + "
            f"{tables['studentAssessment'].height:,} results, {size / 1e6:.0f} MB of CSV\n"
        )
        print(f"path from the CSV folder to features (fresh process, {args.weeks} weeks):")
        child = subprocess.run(
            [sys.executable, __file__, "--weeks", str(args.weeks), "--path-only", str(folder)],
            stdout=subprocess.PIPE,
            text=True,
            check=True,
        )
    lines = child.stdout.splitlines()
    print("\n".join(line for line in lines if not line.startswith(RESULT)))
    path = json.loads(next(line for line in lines if line.startswith(RESULT))[len(RESULT) :])
    total_s = sum(s["s"] for s in path["stages"])
    total_cpu = sum(s["cpu_s"] for s in path["stages"])
    peak = path["ru_maxrss"]
    print(
        f"  {'total':<30} {total_s:7.2f} s wall {total_cpu:7.2f} s CPU   "
        f"peak RSS {peak / 1e9:5.2f} GB (ru_maxrss, interpreter "
        f"{path['baseline_rss'] / 1e9:.2f} GB included)"
    )
    print(
        f"\n{path['events_in']:,} events in, {path['removed']:,} removed, "
        f"{path['events_out']:,} out -> {path['rows']:,} rows x {path['columns']} columns "
        f"({path['estimated_mb']:,.0f} MB)"
    )
    print("rules: " + ", ".join(f"{k} {v:,}" for k, v in path["rules"].items() if v))

    print(f"\nside by side on a sample of {args.sample:,} students (same cleaned events):")
    fast_s, slow_s, _ = compare_on_sample(tables, args.sample, weeks)
    del tables
    features_s = path["stages"][-1]["s"]
    per_fast = features_s / args.students
    per_slow = slow_s / args.sample
    print(f"\n  {'features per student':<30} {'vectorised':>12} {'pandas':>12}")
    print(f"  {'sample':<30} {fast_s / args.sample * 1e3:>9.3f} ms {per_slow * 1e3:>9.3f} ms")
    print(
        f"  {f'{args.students:,} students':<30} {features_s:>10.1f} s "
        f"{per_slow * args.students / 60:>8.1f} min (extrapolated, {per_slow / per_fast:.0f}x)"
    )
    ok = total_s <= LIMIT_S and peak <= LIMIT_GB * 1e9
    print(
        f"\nwhole path {total_s:.1f} s (limit {LIMIT_S:.0f}), peak {peak / 1e9:.2f} GB "
        f"(limit {LIMIT_GB:.0f}): {'within targets' if ok else 'OUTSIDE TARGETS'}; "
        f"load average {load_average()}"
    )


if __name__ == "__main__":
    main()
