"""Benchmark (issue 14): what Prefect costs, and a nightly score + monitor over 100,000 students.

1. **Scheduling overhead.** The same work (score 1,000 students with the champion) called
   directly (``serving.batch.score_file``) and as the ``score`` flow on the home's real local
   Prefect server (SQLite): the median of ``--repeats`` runs each; the difference is what the
   orchestration adds per run (flow and task runs recorded over HTTP, state transitions,
   the risk-list artifact). Also the local server's cold start.
2. **Nightly flow.** ``score`` over ``--students`` students (embedded defaults: the champion in
   the SQLite MLflow registry, the SQLite prediction log) then ``monitor`` over the logged window
   (drift vs the champion's reference profile, alert rules; retraining off), each in a **fresh
   child process** so its peak memory (``ru_maxrss``, kernel-recorded) is its own; the same
   two steps called directly, in another fresh child, for comparison.

The load average is printed beside the figures: on a busy machine, wall times mean little.

    .venv/bin/python benchmarks/bench_flows.py [--students 100000] [--repeats 5] [--budget 20]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROFILE = "student-performance"
RESULT = "RESULT "


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def settings_for(home: Path) -> Any:
    from studentops.config import load_settings

    return load_settings(home=home, prefect_port=0, config_file=home / "none.yaml")


def prepare(home: Path, students: int, budget: float) -> tuple[Path, Path]:
    """Train and promote a champion; write the nightly file and a 1,000-student file."""
    from studentops.datasets.profile import load_profile
    from studentops.datasets.synthetic import generate_cohort, write_cohort
    from studentops.registry.models import promote
    from studentops.tracking import client_for, quiet_library_logs
    from studentops.training.pipeline import train_and_register

    quiet_library_logs(optuna=True)
    settings = settings_for(home)
    profile = load_profile(PROFILE)
    train = write_cohort(generate_cohort(profile, 3000, seed=1), home / "train.csv")
    train_and_register(PROFILE, train, settings=settings, time_budget_s=budget)
    promote(client_for(settings), PROFILE, margin=0.0, max_gap=1.0)
    drop = [c for c in (profile.target.column, profile.target_source) if c]
    night = generate_cohort(profile, students, seed=2).drop(columns=drop)
    night_path = write_cohort(night, home / "night.csv")
    small_path = write_cohort(night.head(1000), home / "small.csv")
    return night_path, small_path


def overhead(home: Path, small: Path, repeats: int) -> dict[str, float]:
    from studentops.flows.server import prefect_server
    from studentops.serving.batch import load_predictor, score_file

    settings = settings_for(home)
    started = time.perf_counter()
    with prefect_server(settings, ui=False):
        server_start = time.perf_counter() - started
        from studentops.flows.definitions import score_flow

        predictor = load_predictor(PROFILE, settings)
        score_file(PROFILE, small, home / "warm.csv", settings=settings, predictor=predictor)
        direct, flowed = [], []
        for i in range(repeats):
            t = time.perf_counter()
            score_file(PROFILE, small, home / f"direct-{i}.csv", settings=settings)
            direct.append(time.perf_counter() - t)
            t = time.perf_counter()
            score_flow(PROFILE, data=str(small), out=str(home / f"flow-{i}.csv"))
            flowed.append(time.perf_counter() - t)
    return {
        "server_start_s": server_start,
        "direct_median_s": statistics.median(direct),
        "flow_median_s": statistics.median(flowed),
        "overhead_s": statistics.median(flowed) - statistics.median(direct),
    }


def nightly_child(home: Path, night: Path, mode: str, api_url: str | None) -> None:
    """Run in a fresh process: score then monitor, as flows or directly; print the figures."""
    settings = settings_for(home)
    if mode == "flow":
        from studentops.flows.server import apply_environment

        apply_environment(settings, api_url)
    from studentops.tracking import quiet_library_logs

    quiet_library_logs()
    times: dict[str, float] = {}
    t = time.perf_counter()
    if mode == "flow":
        from studentops.flows.definitions import monitor_flow, score_flow

        scored = score_flow(PROFILE, data=str(night), out=str(home / "night-risk.csv"))
        times["score_s"] = time.perf_counter() - t
        t = time.perf_counter()
        checked = monitor_flow(PROFILE, retrain=False)
        rows, status = scored["accepted"], checked["status"]
    else:
        from studentops.monitoring.alerts.engine import alert_on_check
        from studentops.monitoring.check import run_check
        from studentops.serving.batch import score_file

        summary = score_file(PROFILE, night, home / "night-risk-direct.csv", settings=settings)
        times["score_s"] = time.perf_counter() - t
        t = time.perf_counter()
        result = run_check(PROFILE, settings=settings)
        alert_on_check(settings, result).wait(60)
        rows, status = summary.accepted, result.verdict.status
    times["monitor_s"] = time.perf_counter() - t
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(RESULT + json.dumps(times | {"rows": rows, "status": status, "peak_mb": peak_mb}))


def run_child(home: Path, night: Path, mode: str, api_url: str | None) -> dict[str, Any]:
    args = [sys.executable, __file__, "--child", mode, "--home", str(home), "--night", str(night)]
    if api_url:
        args += ["--api-url", api_url]
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    line = next((x for x in proc.stdout.splitlines() if x.startswith(RESULT)), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"nightly {mode} failed:\n{proc.stderr[-3000:]}")
    return dict(json.loads(line.removeprefix(RESULT)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--budget", type=float, default=20.0, help="training seconds (setup)")
    parser.add_argument("--child", choices=["flow", "direct"])
    parser.add_argument("--home", type=Path)
    parser.add_argument("--night", type=Path)
    parser.add_argument("--api-url")
    args = parser.parse_args()
    if args.child:
        nightly_child(args.home, args.night, args.child, args.api_url)
        return

    from studentops.flows.server import prefect_server

    with tempfile.TemporaryDirectory(prefix="studentops-bench-flows-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        os.environ["STUDENTOPS_HOME"] = str(home)
        os.environ["STUDENTOPS_CONFIG"] = str(home / "none.yaml")
        print(f"setup: champion ({args.budget:.0f}s budget), {args.students:,} students ...")
        night, small = prepare(home, args.students, args.budget)
        print(f"load average before: {load()}")
        figures = overhead(home, small, args.repeats)
        print(
            f"\nlocal Prefect server cold start: {figures['server_start_s']:.1f}s\n"
            f"score 1,000 students, median of {args.repeats}: direct "
            f"{figures['direct_median_s']:.2f}s, as a flow {figures['flow_median_s']:.2f}s -> "
            f"overhead {figures['overhead_s']:.2f}s per run   (load {load()})"
        )
        with prefect_server(settings_for(home), ui=False) as server:
            flowed = run_child(home, night, "flow", server.api_url)
        direct = run_child(home, night, "direct", None)
        print(f"\nnightly score + monitor over {args.students:,} students (fresh process each):")
        print(f"{'':10} {'score s':>9} {'monitor s':>10} {'total s':>9} {'peak MB':>9}  verdict")
        for name, r in (("flows", flowed), ("direct", direct)):
            total = r["score_s"] + r["monitor_s"]
            print(
                f"{name:10} {r['score_s']:9.1f} {r['monitor_s']:10.1f} {total:9.1f} "
                f"{r['peak_mb']:9.0f}  {r['status']} ({r['rows']:,} rows)"
            )
        print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
