"""Quality benchmark: studentops against AutoML peers on the protocol of tasks.yaml.

For each task: read the seed file, validate it with the task's built-in profile (sensitive
columns used as features, since peers got every column except the task's drop list), train with
the task's budget on the same stratified/shuffled 80/20 split (random_state 42), score once on
the test part, and compare with the best peer from peers.md.

    .venv/bin/python benchmarks/bench_quality.py [--tasks t1 t2] [--budget S] [--seed N]

A task passes when its score is at least the best peer minus 0.005 and its wall time is within
the budget plus 10%.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
TASKS_FILE = SHARED / "benchmarks" / "tasks.yaml"
PEERS_FILE = SHARED / "benchmarks" / "peers.md"

PROFILES = {
    "student_performance_gradeclass": "student-performance",
    "uci_dropout_3class": "uci-dropout",
    "uci_dropout_binary": "uci-dropout-binary",
    "exams_math_regression": "exams-math",
}
# Best peer per task as published in peers.md (used when the file cannot be parsed).
PEERS_FALLBACK = {
    "student_performance_gradeclass": 0.5801,
    "uci_dropout_3class": 0.7043,
    "uci_dropout_binary": 0.9381,
    "exams_math_regression": 0.8806,
}
TOLERANCE = 0.005
TIME_SLACK = 1.10


def best_peers(path: Path = PEERS_FILE) -> dict[str, float]:
    """The 'best peer' column of the table in peers.md."""
    found: dict[str, float] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) > 2 and cells[0] in PROFILES:
                number = re.search(r"[-+]?\d*\.\d+", cells[-1])
                if number:
                    found[cells[0]] = float(number.group())
    return {**PEERS_FALLBACK, **found}


def run_task(
    name: str, spec: dict[str, Any], budget: float, seed: int, out: Path
) -> dict[str, Any]:
    from studentops.datasets.loading import read_table
    from studentops.datasets.profile import load_profile
    from studentops.datasets.validation import validate
    from studentops.training.train import train_model

    profile = load_profile(PROFILES[name]).model_copy(update={"sensitive_as_features": True})
    raw = read_table(SHARED / spec["file"], spec.get("sep"))
    expected = set(raw.columns) - {spec["target"], *spec.get("drop", [])}
    differ = sorted(expected ^ set(profile.feature_columns))
    if differ:
        print(f"  note: features differ from the protocol: {differ}")
    result = validate(raw, profile)
    if result.rejected:
        print(f"  note: {result.rejected} row(s) rejected by validation")
    start = time.perf_counter()
    trained = train_model(
        result.valid,
        profile,
        time_budget_s=budget,
        metric=spec["metric"],
        seed=seed,
        artifacts_dir=out / name,
    )
    wall = time.perf_counter() - start
    size_mb, row_ms = serving_figures(trained.model, result.valid)
    states: dict[str, int] = {}
    for t in trained.trials:
        states[t.state] = states.get(t.state, 0) + 1
    return {
        "task": name,
        "metric": spec["metric"],
        "score": trained.test_metrics[spec["metric"]],
        "also": {k: trained.test_metrics.get(k) for k in spec.get("also", [])},
        "cv_score": trained.cv_score,
        "wall_s": wall,
        "fit_s": trained.fit_duration_s,
        "budget_s": budget,
        "algorithm": trained.algorithm,
        "trials": states,
        "model_mb": size_mb,
        "row_ms": row_ms,
    }


def serving_figures(model: Any, frame: Any, repeats: int = 50) -> tuple[float, float]:
    """Pickled size (MB) and one-row latency (ms, median) of the serving path."""
    import pickle
    import statistics

    size = len(pickle.dumps(model)) / 1e6
    record = frame.head(1).to_dict(orient="records")
    regression = model.task == "regression"
    predict = model.predict_value_matrix if regression else model.predict_proba_matrix
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        predict(model.encode_records(record))
        times.append(time.perf_counter() - t)
    return size, statistics.median(times) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", nargs="*", help="task names (default: all)")
    parser.add_argument("--budget", type=float, help="override every task's budget (seconds)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--artifacts", type=Path, help="keep artifacts here (default: temporary)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args(argv)

    if not TASKS_FILE.is_file():
        print(f"tasks file not found: {TASKS_FILE}", file=sys.stderr)
        return 2
    tasks = yaml.safe_load(TASKS_FILE.read_text(encoding="utf-8"))["tasks"]
    names = args.tasks or list(tasks)
    unknown = [n for n in names if n not in tasks or n not in PROFILES]
    if unknown:
        print(f"unknown task(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    peers = best_peers()
    out = args.artifacts or Path(tempfile.mkdtemp(prefix="bench-quality-"))
    rows = []
    for name in names:
        spec = tasks[name]
        budget = args.budget or float(spec["budget_s"])
        print(f"{name}: training with {budget:.0f}s ...", flush=True)
        row = run_task(name, spec, budget, args.seed, out)
        row["peer"] = peers.get(name)
        row["delta"] = row["score"] - row["peer"] if row["peer"] is not None else None
        ok_score = row["delta"] is None or row["delta"] >= -TOLERANCE
        ok_time = row["wall_s"] <= budget * TIME_SLACK
        row["status"] = "PASS" if ok_score and ok_time else "MISS"
        also = ", ".join(f"{k} {v:.4f}" for k, v in row["also"].items() if v is not None)
        print(
            f"  {row['algorithm']}  cv {row['cv_score']:.4f}  test {row['score']:.4f}  ({also})"
            f"  trials {row['trials']}  fit {row['fit_s']:.1f}s  model {row['model_mb']:.1f} MB"
            f"  one row {row['row_ms']:.1f} ms",
            flush=True,
        )
        rows.append(row)

    header = (
        f"{'task':<32} {'metric':<9} {'ours':>7} {'wall s':>7} {'peer':>7} {'delta':>8}  result"
    )
    print()
    print(header)
    print("-" * len(header))
    for r in rows:
        delta = f"{r['delta']:+.4f}" if r["delta"] is not None else "n/a"
        peer = r["peer"] if r["peer"] is not None else float("nan")
        print(
            f"{r['task']:<32} {r['metric']:<9} {r['score']:>7.4f} {r['wall_s']:>7.1f} "
            f"{peer:>7.4f} {delta:>8}  {r['status']}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=str), encoding="utf-8")
    return 0 if all(r["status"] == "PASS" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
