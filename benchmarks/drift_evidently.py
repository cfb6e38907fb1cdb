"""Evidently's side of `make bench-drift`; runs in `.venv-evidently` (evidently 0.7.23).

Evidently 0.7.23 needs pandas 3.0.x and plotly below 6, so it lives in its own virtual
environment and cannot import studentops. Reads the frames `bench_drift.py` wrote, runs
`DataDriftPreset` and prints one JSON line: seconds and each column's verdict.

    python drift_evidently.py FOLDER full     # reference.parquet vs current.parquet
    python drift_evidently.py FOLDER tiny     # the 0.01-sd case
    python drift_evidently.py FOLDER windows  # identical 15-row windows
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd


def verdicts(snapshot: Any) -> dict[str, bool]:
    """Per column: drifted? (p-value methods drift below the threshold, distances at/above)."""
    out = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if not str(config.get("type", "")).endswith("ValueDrift"):
            continue
        value, threshold = float(metric["value"]), float(config["threshold"])
        method = str(config.get("method", ""))
        out[config["column"]] = value < threshold if "p_value" in method else value >= threshold
    return out


def methods(snapshot: Any) -> dict[str, str]:
    return {
        m["config"]["column"]: m["config"]["method"]
        for m in snapshot.dict()["metrics"]
        if str(m.get("config", {}).get("type", "")).endswith("ValueDrift")
    }


def run(reference: pd.DataFrame, current: pd.DataFrame, **options: Any) -> tuple[float, Any]:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    started = time.perf_counter()
    snapshot = Report([DataDriftPreset(**options)]).run(current, reference)
    return time.perf_counter() - started, snapshot


def main() -> None:
    warnings.filterwarnings("ignore")
    import evidently.presets  # noqa: F401  (imports are start-up, not the check: warmed)

    folder, mode = Path(sys.argv[1]), sys.argv[2]
    reference = pd.read_parquet(folder / "reference.parquet")
    if mode == "full":
        current = pd.read_parquet(folder / "current.parquet")
        seconds, snapshot = run(reference, current)
        result: dict[str, Any] = {
            "seconds": seconds,
            "verdicts": verdicts(snapshot),
            "methods": sorted(set(methods(snapshot).values())),
        }
    elif mode == "tiny":
        current = pd.read_parquet(folder / "tiny.parquet")
        column = current.columns[0]
        seconds, snapshot = run(reference[[column]], current)
        _, with_ks = run(reference[[column]], current, num_method="ks")
        result = {
            "seconds": seconds,
            "default": verdicts(snapshot)[column],
            "default_method": methods(snapshot)[column],
            "ks": verdicts(with_ks)[column],
        }
    else:
        windows = pd.read_parquet(folder / "windows.parquet")
        alarms, columns, seconds = 0, 0, 0.0
        per_window = []
        for _, window in windows.groupby("window", sort=True):
            took, snapshot = run(reference, window.drop(columns=["window"]))
            seconds += took
            found = verdicts(snapshot)
            per_window.append(any(found.values()))
            alarms += sum(found.values())
            columns += len(found)
        result = {
            "seconds": seconds,
            "windows": len(per_window),
            "any_column_alarm_rate": sum(per_window) / len(per_window),
            "column_alarm_rate": alarms / max(columns, 1),
        }
    peak = next(
        int(line.split()[1]) / 1024
        for line in Path("/proc/self/status").read_text().splitlines()
        if line.startswith("VmHWM:")
    )
    print(json.dumps(result | {"peak_mb": peak}))


if __name__ == "__main__":
    main()
