"""Drift benchmark (`make bench-drift`): studentops' check vs Evidently's DataDriftPreset.

One run, one machine, the same frames for both tools:

1. **full**: 1,000,000 current rows vs 100,000 reference rows over 40 columns (30 numbers, 10
   categories), 5 of them truly shifted by amounts a data team would care about (a mean moved
   half a standard deviation, a spread 1.5x, a count +40%, a category's share 40% -> 60%, a new
   category at 10%), 35 not. studentops reads the current rows **from the prediction log**
   (SQLite, written here beforehand like the API writes it): the first check syncs the log into
   its columnar read layout (the one-off migration), a second check reads the synced layout
   (the steady state). Evidently gets the same rows as pandas frames (reading them not timed).
   Each tool runs in its own child process; peak memory is that process's VmHWM.
2. **tiny**: one column, 1,000,000 rows shifted by 0.01 standard deviation (must not alarm);
   Evidently with its default method and with a K-S p-value test.
3. **windows**: 100 windows of 15 rows drawn from the reference distribution, all 40 columns
   (the false-alarm rate; target <= 5%). studentops as configured (``monitor_min_rows`` 200:
   "too few rows") and with the statistics forced on every window (min rows 1).

Targets: >= 10x faster than Evidently and < 1 GB peak; the 5 shifted columns found, none of
the 35 others; <= 5% false alarms on identical small windows. Prints the load average beside
the figures (the machine is shared). ``--current/--reference/--windows`` shrink the run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EVIDENTLY_PY = ROOT / ".venv-evidently" / "bin" / "python"
PROFILE = "bench-drift"
N_NUM, N_CAT = 30, 10
SHIFTED = ("num_00", "num_01", "num_02", "cat_00", "cat_01")


# -- data --------------------------------------------------------------------------------------


def _column(name: str, n: int, rng: np.random.Generator, shifted: bool) -> Any:
    i = int(name[-2:])
    if name.startswith("cat"):
        k = 3 + i
        shares = np.linspace(1, 0.3, k)
        shares = shares / shares.sum()
        cats = np.array([f"c{j}" for j in range(k)] + ["new"], dtype=object)
        if name == "cat_00":
            shares = np.array([0.4, *(0.6 * shares[1:] / shares[1:].sum())])
            if shifted:
                shares = np.array([0.6, *(0.4 * shares[1:] / shares[1:].sum())])
        probs = np.append(shares, 0.0)
        if name == "cat_01" and shifted:
            probs = np.append(shares * 0.9, 0.1)
        return cats[rng.choice(len(cats), n, p=probs)]
    kind = i % 3
    if kind == 0:
        values = rng.normal(10 + i, 2 + i % 5, n)
        if name == "num_00" and shifted:
            values += 0.5 * (2 + i % 5)
    elif kind == 1:
        values = rng.lognormal(1 + i / 30, 0.5, n)
        if name == "num_01" and shifted:
            center = np.exp(1 + i / 30)
            values = center + (values - center) * 1.5
    else:
        lam = 3 + i / 3
        values = rng.poisson(lam * (1.4 if name == "num_02" and shifted else 1.0), n).astype(float)
    if i == 5:
        values[rng.random(n) < 0.05] = np.nan  # a column with missing values, unchanged
    return values


def frame(n: int, seed: int, shifted: bool) -> Any:
    import pandas as pd

    rng = np.random.default_rng(seed)
    names = [f"num_{i:02d}" for i in range(N_NUM)] + [f"cat_{i:02d}" for i in range(N_CAT)]
    return pd.DataFrame({c: _column(c, n, rng, shifted) for c in names})


def write_log(url: str, current: Any) -> float:
    """Log the current rows as the API would (features as JSON, one row per prediction)."""
    import orjson

    from studentops.monitoring.predlog import LogRow, PredictionLog

    started = time.perf_counter()
    names = list(current.columns)
    columns = [
        [None if v != v else v for v in current[c].tolist()]
        if c.startswith("num")
        else current[c].tolist()
        for c in names
    ]
    now = time.time()
    with PredictionLog(url, key="bench", queue_size=200_000, batch_size=20_000) as log:
        batch = []
        for i, values in enumerate(zip(*columns, strict=True)):
            feats = orjson.dumps(dict(zip(names, values, strict=True))).decode()
            batch.append(
                LogRow(now, f"s{i}", feats, "0", 0.2, "low", "{}", "m", "1", 0.0, PROFILE, "batch")
            )
            if len(batch) == 100_000:
                while log.pending > 100_000:
                    time.sleep(0.05)
                log.submit(batch)
                batch = []
        log.submit(batch)
        log.flush(600)
    return time.perf_counter() - started


def bench_profile() -> Any:
    """The dataset profile of the benchmark's 40 columns (as a served model's profile types
    the log's features)."""
    from studentops.datasets.profile import Profile

    columns: dict[str, Any] = {f"num_{i:02d}": {"type": "number"} for i in range(N_NUM)}
    columns |= {
        f"cat_{i:02d}": {"type": "category", "categories": [f"c{j}" for j in range(3 + i)]}
        for i in range(N_CAT)
    }
    columns["outcome"] = {"type": "number"}
    return Profile.model_validate(
        {
            "name": PROFILE,
            "columns": columns,
            "target": {"column": "outcome", "task": "regression"},
        }
    )


def reference_profile(reference: Any) -> Any:
    from studentops.monitoring.reference import (
        ReferenceProfile,
        categorical_reference,
        category_keys,
        numeric_reference,
    )

    features = {
        c: categorical_reference(category_keys(reference[c]))
        if c.startswith("cat")
        else numeric_reference(reference[c].to_numpy(float))
        for c in reference.columns
    }
    return ReferenceProfile(PROFILE, len(reference), features)


# -- the children ------------------------------------------------------------------------------


def child_studentops(folder: Path, mode: str) -> dict[str, Any]:
    from studentops.monitoring import columnar
    from studentops.monitoring.check import feature_columns
    from studentops.monitoring.drift import DriftOptions, compare_features, verdict
    from studentops.monitoring.reference import ReferenceProfile

    ref = ReferenceProfile.from_dict(json.loads((folder / "reference.json").read_text()))
    opts = DriftOptions()
    # Imports are a process's start-up, not the check (a flow or the API has them loaded);
    # Evidently's side is warmed the same way.
    import adbc_driver_sqlite.dbapi  # noqa: F401
    import pandas  # noqa: F401
    import polars  # noqa: F401
    import pyarrow.dataset  # noqa: F401
    import scipy.special  # noqa: F401
    import sqlalchemy  # noqa: F401

    import studentops.monitoring.predlog
    import studentops.tracking  # noqa: F401

    if mode == "full":
        started = time.perf_counter()
        copied = columnar.sync(
            f"sqlite:///{folder / 'log.db'}", folder / "columnar", {PROFILE: bench_profile()}
        )
        synced = time.perf_counter()
        # As run_check reads the log: ten feature columns at a time (memory).
        features, rows, read_s = [], 0, 0.0
        batches = columnar.read_window_batches(
            folder / "columnar", PROFILE, columns=list(ref.features)
        )
        while True:
            before = time.perf_counter()
            part = next(batches, None)
            read_s += time.perf_counter() - before
            if part is None:
                break
            rows = len(part)
            features += compare_features(ref, feature_columns(part, ref), rows, opts)
        result = verdict(features, [], rows, opts)
        done = time.perf_counter()
        return {
            "rows": rows,
            "copied": copied,
            "sync_s": synced - started,
            "read_s": read_s,
            "compare_s": done - synced - read_s,
            "seconds": done - started,
            "verdicts": {f.feature: f.any_drift for f in features},
            "status": result.status,
        }
    import pandas as pd

    if mode == "tiny":
        current = pd.read_parquet(folder / "tiny.parquet")
        started = time.perf_counter()
        features = compare_features(ref, feature_columns(current, ref), len(current), opts)
        return {
            "seconds": time.perf_counter() - started,
            "alarm": any(f.any_drift for f in features),
            "value": features[0].value,
        }
    windows = pd.read_parquet(folder / "windows.parquet")
    out: dict[str, Any] = {}
    for label, min_rows in (("configured", opts.min_rows), ("forced", 1)):
        o = DriftOptions(min_rows=min_rows)
        any_alarm, alarms, columns, statuses = 0, 0, 0, []
        started = time.perf_counter()
        for _, w in windows.groupby("window", sort=True):
            w = w.drop(columns=["window"])
            feats = compare_features(ref, feature_columns(w, ref), len(w), o)
            flags = [f.any_drift for f in feats]
            any_alarm += any(flags)
            alarms += sum(flags)
            columns += len(flags)
            statuses.append(verdict(feats, [], len(w), o).status)
        out[label] = {
            "seconds": time.perf_counter() - started,
            "any_column_alarm_rate": any_alarm / len(statuses),
            "column_alarm_rate": alarms / max(columns, 1),
            "statuses": {s: statuses.count(s) for s in set(statuses)},
        }
    return out


def peak_mb() -> float:
    """This process's peak resident memory (VmHWM), MB. Not ``ru_maxrss``: Linux carries that
    across fork and exec, so a child would report at least its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_child(cmd: list[str]) -> tuple[dict[str, Any], float]:
    """Run one tool in its own process; its JSON answer and its peak memory in MB."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, env={**os.environ, "PYTHONWARNINGS": "ignore"}
    )
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, _ = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed with exit code {proc.returncode}")
    lines = [line for line in output.decode().splitlines() if line.startswith("{")]
    answer = json.loads(lines[-1])
    return answer, float(answer.get("peak_mb", float("nan")))


# -- main --------------------------------------------------------------------------------------


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--current", type=int, default=1_000_000)
    parser.add_argument("--reference", type=int, default=100_000)
    parser.add_argument("--windows", type=int, default=100)
    parser.add_argument("--child", choices=("studentops",))
    parser.add_argument("--mode", default="full")
    parser.add_argument("--folder", type=Path)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child_studentops(args.folder, args.mode) | {"peak_mb": peak_mb()}))
        return
    if not EVIDENTLY_PY.exists():
        raise SystemExit(f"{EVIDENTLY_PY} missing: run `make bench-drift` (it creates it)")
    import pandas as pd

    with tempfile.TemporaryDirectory(prefix="bench-drift-") as tmp:
        folder = Path(tmp)
        print(
            f"preparing: {args.current:,} current and {args.reference:,} reference rows, 40 columns"
        )
        reference = frame(args.reference, 1, shifted=False)
        current = frame(args.current, 2, shifted=True)
        reference.to_parquet(folder / "reference.parquet")
        current.to_parquet(folder / "current.parquet")
        started = time.perf_counter()
        ref = reference_profile(reference)
        (folder / "reference.json").write_text(json.dumps(ref.to_dict()))
        print(
            f"  reference profile built in {time.perf_counter() - started:.2f}s "
            f"({len(json.dumps(ref.to_dict())) / 1024:.0f} KB; at registration, not timed below)"
        )
        logged = write_log(f"sqlite:///{folder / 'log.db'}", current)
        print(f"  logged {args.current:,} predictions to the prediction log in {logged:.1f}s")
        rng = np.random.default_rng(3)
        sd = float(reference["num_00"].std())
        tiny = pd.DataFrame({"num_00": _column("num_00", args.current, rng, False) + 0.01 * sd})
        tiny.to_parquet(folder / "tiny.parquet")
        windows = frame(15 * args.windows, 5, shifted=False)
        windows["window"] = np.repeat(np.arange(args.windows), 15)
        windows.to_parquet(folder / "windows.parquet")
        del current, windows, tiny

        me = [sys.executable, __file__, "--child", "studentops", "--folder", str(folder)]
        ev = [str(EVIDENTLY_PY), str(Path(__file__).with_name("drift_evidently.py")), str(folder)]
        print(load())
        first, first_mb = run_child([*me, "--mode", "full"])
        steady, steady_mb = run_child([*me, "--mode", "full"])
        print(load())
        evid, evid_mb = run_child([*ev, "full"])
        print(load())
        tiny_s, _ = run_child([*me, "--mode", "tiny"])
        tiny_e, _ = run_child([*ev, "tiny"])
        win_s, _ = run_child([*me, "--mode", "windows"])
        win_e, _ = run_child([*ev, "windows"])
        report(
            first, first_mb, steady, steady_mb, evid, evid_mb, tiny_s, tiny_e, win_s, win_e, args
        )
        print(load())


def report(
    first: dict[str, Any],
    first_mb: float,
    steady: dict[str, Any],
    steady_mb: float,
    evid: dict[str, Any],
    evid_mb: float,
    tiny_s: dict[str, Any],
    tiny_e: dict[str, Any],
    win_s: dict[str, Any],
    win_e: dict[str, Any],
    args: Any,
) -> None:
    print(
        f"\n== full: {args.current:,} current vs {args.reference:,} reference rows, 40 columns =="
    )
    print(f"{'':34}{'seconds':>10}{'peak MB':>10}{'vs Evidently':>14}")
    rows = [
        ("studentops, first check (+ sync)", first["seconds"], first_mb),
        ("studentops, steady state", steady["seconds"], steady_mb),
        ("Evidently DataDriftPreset", evid["seconds"], evid_mb),
    ]
    for name, seconds, mb in rows:
        print(f"{name:34}{seconds:>10.2f}{mb:>10.0f}{evid['seconds'] / seconds:>13.1f}x")
    print(
        f"  studentops first check: sync {first['sync_s']:.2f}s ({first['copied']:,} rows), "
        f"read {first['read_s']:.2f}s, compare {first['compare_s']:.2f}s; steady state: read "
        f"{steady['read_s']:.2f}s, compare {steady['compare_s']:.2f}s"
    )
    print(f"  Evidently's methods: {', '.join(evid['methods'])}")
    print(f"\n{'column':10}{'truly shifted':>15}{'studentops':>12}{'Evidently':>11}")
    right = {"studentops": 0, "Evidently": 0}
    for column in sorted(steady["verdicts"]):
        truth = column in SHIFTED
        ours, theirs = steady["verdicts"][column], evid["verdicts"].get(column)
        right["studentops"] += ours == truth
        right["Evidently"] += theirs == truth
        if truth or ours or theirs:
            print(f"{column:10}{'yes' if truth else 'no':>15}{ours!s:>12}{theirs!s:>11}")
    print("  (columns not listed: not shifted, and neither tool flagged them)")
    print(
        f"  correct verdicts of 40: studentops {right['studentops']}, "
        f"Evidently {right['Evidently']}"
    )
    print(f"\n== 0.01-sd shift in {args.current:,} rows (must not alarm) ==")
    print(f"  studentops: alarm={tiny_s['alarm']} (psi {tiny_s['value']:.5f})")
    print(
        f"  Evidently: default ({tiny_e['default_method']}) alarm={tiny_e['default']}; "
        f"with a K-S p-value test alarm={tiny_e['ks']}"
    )
    print(
        f"\n== {args.windows} identical 15-row windows, 40 columns (false alarms; target <= 5%) =="
    )
    c, f = win_s["configured"], win_s["forced"]
    print(
        f"  studentops as configured: windows with any alarm {c['any_column_alarm_rate']:.0%}, "
        f"column alarms {c['column_alarm_rate']:.1%}; verdicts {c['statuses']}"
    )
    print(
        f"  studentops, statistics forced on 15 rows: windows with any alarm "
        f"{f['any_column_alarm_rate']:.0%}, column alarms {f['column_alarm_rate']:.1%}; "
        f"verdicts {f['statuses']}"
    )
    print(
        f"  Evidently: windows with any alarm {win_e['any_column_alarm_rate']:.0%}, column alarms "
        f"{win_e['column_alarm_rate']:.1%} ({win_e['seconds']:.1f}s for {win_e['windows']} runs)"
    )
    speed_first = evid["seconds"] / first["seconds"]
    speed_steady = evid["seconds"] / steady["seconds"]
    peak = max(first_mb, steady_mb)
    found = steady["verdicts"]
    exact = all(found[s] for s in SHIFTED) and sum(found.values()) == len(SHIFTED)
    forced = f["any_column_alarm_rate"]
    rows = [
        (
            ">= 10x faster than Evidently, first check (migrates the log)",
            speed_first >= 10,
            f"{speed_first:.1f}x ({first['seconds']:.2f}s vs {evid['seconds']:.2f}s)",
        ),
        (
            ">= 10x faster than Evidently, steady state",
            speed_steady >= 10,
            f"{speed_steady:.1f}x ({steady['seconds']:.2f}s)",
        ),
        (
            "< 1 GB peak memory (studentops)",
            peak < 1024,
            f"{peak:.0f} MB (first {first_mb:.0f}, steady {steady_mb:.0f}; "
            f"Evidently {evid_mb:.0f})",
        ),
        (
            "5 shifted columns found, none of the 35 others",
            exact,
            f"{sum(found[s] for s in SHIFTED)}/5 found, "
            f"{sum(found.values()) - sum(found[s] for s in SHIFTED)} false",
        ),
        (
            "0.01-sd shift in the current rows: no alarm",
            not tiny_s["alarm"],
            f"alarm={tiny_s['alarm']}",
        ),
        (
            f"<= 5% false alarms, {args.windows} identical 15-row windows",
            c["any_column_alarm_rate"] <= 0.05,
            f"{c['any_column_alarm_rate']:.0%} as configured (too few rows); statistics "
            f"forced: window verdict 'drift' {f['statuses'].get('drift', 0)}/{args.windows}, "
            f"{forced:.0%} of windows with a column over its floor "
            f"({f['column_alarm_rate']:.1%} of column checks)",
        ),
    ]
    print(f"\n== targets (issue #12), {args.current:,} vs {args.reference:,} rows; {load()} ==")
    for target, met, figure in rows:
        print(f"  {'MET ' if met else 'MISS'} {target:52} {figure}")


if __name__ == "__main__":
    main()
