"""Quality benchmark: studentops against AutoML peers on the protocol of tasks.yaml, as a user.

For each task the script splits the file itself as the protocol says (stratified for
classification, shuffled for regression, 80/20, random_state 42). The product gets only the 80%
training part, written to a temporary CSV, through the real command a user runs:

    studentops train -p <profile.yaml> -d train.csv --time-budget B --metric M --final-fit F

in a fresh STUDENTOPS_HOME, timed from outside (process start to exit). The benchmark then
loads the registered version (``@challenger``) from MLflow and scores it on the 20% test part,
which the product never saw, computing the metric here with scikit-learn from the model's
outputs (the product's own logged metrics are never read). A model refitted on everything it
was given (``--final-fit all``, the default) therefore cannot have seen a test row.

Both final-fit modes are run and shown side by side with the best peer of peers.md.

    .venv/bin/python benchmarks/bench_quality.py [--tasks t1 t2] [--budget S] [--seed N]
        [--modes all holdout] [--trials N] [--split-seed N] [--json FILE]

A task passes when, in every mode run, its score is at least the best peer minus 0.005 and the
command's wall time is within the budget plus 10%.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
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
MODES = ("all", "holdout")


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


def protocol_split(raw: Any, spec: dict[str, Any], random_state: int = 42) -> tuple[Any, Any]:
    """The protocol's 80/20 split of the raw rows: stratified on the task's label
    (classification) or shuffled (regression), random_state 42 (the protocol's; another
    ``random_state`` repeats the comparison on other splits, off-protocol)."""
    from sklearn.model_selection import train_test_split

    stratify = None
    if spec["task"] != "regression":
        target = raw[spec["target"]].astype(str)
        stratify = target == str(spec["positive"]) if "positive" in spec else target
    train, test = train_test_split(raw, test_size=0.2, random_state=random_state, stratify=stratify)
    return train.reset_index(drop=True), test.reset_index(drop=True)


def _key(value: Any) -> str:
    """A class value as text, so 1, 1.0 and "1" compare equal."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value).strip()
    return str(int(number)) if number.is_integer() else str(number)


def score_outputs(
    out: Any, truth: Any, spec: dict[str, Any], profile: Any, metric: str
) -> dict[str, float]:
    """The task's metrics computed here from the registered model's outputs on the test part.

    ``out`` is what the model's MLflow pyfunc returns for the raw test rows (``prediction``,
    ``proba_<class>``); a row the model refused scores as wrong (its prediction is missing).
    """
    from sklearn import metrics as skm

    names = [metric, *spec.get("also", [])]
    found: dict[str, float] = {}
    if spec["task"] == "regression":
        y = truth.astype(float).to_numpy()
        pred = out["prediction"].astype(float).to_numpy()
        pred = np.where(np.isnan(pred), np.nanmean(pred), pred)
        table = {
            "r2": lambda: skm.r2_score(y, pred),
            "rmse": lambda: float(np.sqrt(skm.mean_squared_error(y, pred))),
            "mae": lambda: skm.mean_absolute_error(y, pred),
        }
        return {n: float(table[n]()) for n in names if n in table}
    classes = [_key(c) for c in profile.class_order()]
    if spec["task"] == "binary":
        y_text = np.where(truth.astype(str) == str(spec["positive"]), classes[1], classes[0])
    else:
        y_text = np.array([_key(v) for v in truth])
    columns = [c for c in out.columns if c.startswith("proba_")]
    proba = out[columns].to_numpy(dtype=float)
    proba = np.where(np.isnan(proba), 1.0 / len(columns), proba)
    # the model answers in the profile's labels (proba_<label>, prediction a label): back to
    # the classes' keys, so the truth (read from the file) compares with them
    order = profile.class_order()
    labels = profile.class_labels(order)
    code_of = {_key(label): _key(c) for label, c in zip(labels, order, strict=True)}
    column_class = [
        code_of.get(_key(name), _key(name)) for name in (c.removeprefix("proba_") for c in columns)
    ]
    pred = np.array(
        [code_of.get(_key(p), _key(p)) if p is not None else "?" for p in out["prediction"]]
    )
    y_index = np.array([column_class.index(v) for v in y_text])
    positive = column_class.index(classes[-1]) if spec["task"] == "binary" else None
    table = {
        "f1_macro": lambda: skm.f1_score(y_text, pred, average="macro"),
        "accuracy": lambda: skm.accuracy_score(y_text, pred),
        "log_loss": lambda: skm.log_loss(y_index, proba, labels=range(len(columns))),
        "roc_auc": lambda: skm.roc_auc_score(y_index == positive, proba[:, positive]),
        "f1": lambda: skm.f1_score(y_text == classes[1], pred == classes[1]),
        "average_precision": lambda: skm.average_precision_score(
            y_index == positive, proba[:, positive]
        ),
        "brier": lambda: skm.brier_score_loss(y_index == positive, proba[:, positive]),
    }
    for n in names:
        if n in table:
            found[n] = float(table[n]())
    return found


def run_cli_train(
    profile_yaml: Path,
    train_csv: Path,
    home: Path,
    budget: float,
    metric: str,
    mode: str,
    seed: int,
    trials: int | None = None,
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """``studentops train`` as a user runs it; wall seconds from process start to exit.

    With ``trials`` the command gets a trial budget instead (reproducible; no time limit)."""
    env = {**os.environ, "STUDENTOPS_HOME": str(home), "COLUMNS": "120"}
    env.pop("STUDENTOPS_CONFIG", None)
    args = [
        *(sys.executable, "-m", "studentops", "train"),
        *("-p", str(profile_yaml), "-d", str(train_csv), "--sep", ","),
        *(("--trials", str(trials)) if trials else ("--time-budget", f"{budget:g}")),
        *("--metric", metric),
        *("--final-fit", mode, "--seed", str(seed)),
    ]
    start = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=budget * 5 + 300)
    return time.perf_counter() - start, done


def mlflow_template(folder: Path) -> Path:
    """An MLflow SQLite database with every migration run, copied into each run's home: the
    runs time a user who has trained before (a first ``train`` in a new home also creates the
    database, 5-13 s on the shared machine)."""
    from mlflow import MlflowClient

    path = folder / "mlflow-template.db"
    if not path.exists():
        MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


def load_registered(profile_name: str, home: Path) -> Any:
    """The registered version (@challenger) from the MLflow registry under ``home``."""
    from studentops.config import Settings
    from studentops.registry.models import registered_model_name
    from studentops.registry.store import load_student_model

    settings = Settings(home=home)
    uri = f"models:/{registered_model_name(profile_name)}@challenger"
    model, _ = load_student_model(uri, settings)
    return model


def run_task(
    name: str,
    spec: dict[str, Any],
    budget: float,
    seed: int,
    out: Path,
    modes: list[str],
    trials: int | None = None,
    split_seed: int = 42,
) -> dict[str, Any]:
    """One task in every final-fit mode: split, train through the CLI, score here."""
    from studentops.datasets.loading import read_table
    from studentops.datasets.profile import load_profile
    from studentops.registry.pyfunc import predict_frame

    profile = load_profile(PROFILES[name]).model_copy(update={"sensitive_as_features": True})
    raw = read_table(SHARED / spec["file"], spec.get("sep"))
    expected = set(raw.columns) - {spec["target"], *spec.get("drop", [])}
    differ = sorted(expected ^ set(profile.feature_columns))
    if differ:
        print(f"  note: features differ from the protocol: {differ}")
    train, test = protocol_split(raw, spec, split_seed)
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    profile_yaml = folder / "profile.yaml"
    profile_yaml.write_text(profile.to_yaml(), encoding="utf-8")
    train_csv = folder / "train.csv"
    train.to_csv(train_csv, index=False)  # the product never gets the test rows
    row: dict[str, Any] = {
        "task": name,
        "metric": spec["metric"],
        "budget_s": budget,
        "train_rows": len(train),
        "test_rows": len(test),
        "modes": {},
    }
    template = mlflow_template(out)
    for mode in modes:
        home = folder / f"home-{mode}"
        home.mkdir(parents=True, exist_ok=True)
        shutil.copy(template, home / "mlflow.db")
        wall, done = run_cli_train(
            profile_yaml, train_csv, home, budget, spec["metric"], mode, seed, trials
        )
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            print(f"  {mode}: train failed (exit {done.returncode}): {' | '.join(tail)}")
            row["modes"][mode] = {"wall_s": wall, "score": float("nan"), "failed": True}
            continue
        model = load_registered(profile.name, home)
        outputs = predict_frame(model, test.drop(columns=[spec["target"]]))
        refused = int((outputs["status"] == "rejected").sum()) if "status" in outputs else 0
        scores = score_outputs(outputs, test[spec["target"]], spec, profile, spec["metric"])
        phases = re.search(r"done in [\d.]+s \((.*?)\)", " ".join(done.stdout.split()))
        row["modes"][mode] = {
            "wall_s": wall,
            "score": scores[spec["metric"]],
            "also": {k: v for k, v in scores.items() if k != spec["metric"]},
            "algorithm": model.algorithm,
            "refused_test_rows": refused,
            "phases": phases.group(1) if phases else "",
        }
        also = ", ".join(f"{k} {v:.4f}" for k, v in row["modes"][mode]["also"].items())
        print(
            f"  final fit {mode:<7} {model.algorithm}  test {scores[spec['metric']]:.4f}"
            f" ({also})  wall {wall:.1f}s  refused {refused}",
            flush=True,
        )
        if phases:
            print(f"    phases (s): {phases.group(1)}", flush=True)
    return row


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, to read beside the figures."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} cores)"


def main(argv: list[str] | None = None) -> int:
    """Run the tasks, print one line per task and mode, then the table; exit 1 on a miss."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", nargs="*", help="task names (default: all)")
    parser.add_argument("--budget", type=float, help="override every task's budget (seconds)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--modes", nargs="*", choices=MODES, default=list(MODES))
    parser.add_argument(
        "--trials",
        type=int,
        help="a trial budget instead of the time budget: compares the final-fit modes on the "
        "same search (the wall-time check is then skipped)",
    )
    parser.add_argument(
        "--split-seed",
        type=int,
        default=42,
        help="random_state of the 80/20 split (42: the protocol's; others repeat the final-fit "
        "comparison on other splits, off-protocol)",
    )
    parser.add_argument("--artifacts", type=Path, help="keep files here (default: temporary)")
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
    print(f"load average before: {load_average()}")
    rows = []
    for name in names:
        spec = tasks[name]
        budget = args.budget or float(spec["budget_s"])
        what = f"--trials {args.trials}" if args.trials else f"--time-budget {budget:g}"
        print(f"{name}: studentops train {what} on the 80% part ...", flush=True)
        row = run_task(name, spec, budget, args.seed, out, args.modes, args.trials, args.split_seed)
        row["peer"] = peers.get(name)
        ok = True
        for result in row["modes"].values():
            delta = result["score"] - row["peer"] if row["peer"] is not None else None
            result["delta"] = delta
            ok_score = delta is None or (delta == delta and delta >= -TOLERANCE)
            ok_time = args.trials is not None or result["wall_s"] <= budget * TIME_SLACK
            result["status"] = "PASS" if ok_score and ok_time else "MISS"
            ok = ok and result["status"] == "PASS"
        row["status"] = "PASS" if ok else "MISS"
        rows.append(row)

    print()
    print(f"load average after: {load_average()}")
    cells = [f"{m + ' score':>11} {m + ' wall':>11}" for m in args.modes]
    header = f"{'task':<32} {'metric':<9} {' '.join(cells)} {'peer':>7} {'limit s':>8}  result"
    print(header)
    print("-" * len(header))
    for r in rows:
        parts = []
        for mode in args.modes:
            res = r["modes"].get(mode, {})
            delta = res.get("delta")
            shown = f"{res.get('score', float('nan')):.4f}"
            shown += f"{delta:+.3f}" if delta is not None and delta == delta else ""
            parts.append(f"{shown:>11} {res.get('wall_s', float('nan')):>10.1f}s")
        peer = r["peer"] if r["peer"] is not None else float("nan")
        print(
            f"{r['task']:<32} {r['metric']:<9} {' '.join(parts)} {peer:>7.4f} "
            f"{r['budget_s'] * TIME_SLACK:>8.1f}  {r['status']}"
        )
    print("score: on the protocol's 20% test part, computed here; +/-: against the best peer")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=str), encoding="utf-8")
    return 0 if all(r["status"] == "PASS" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
