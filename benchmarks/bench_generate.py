"""Synthetic cohort speed: rows per second to generate and write, per profile and format.

    .venv/bin/python benchmarks/bench_generate.py [--rows 1000000] [PROFILE ...]

The target is one million rows, written, in at most 10 s on 2 cores (CSV and Parquet).
``cpu s`` is the process's CPU time: on a busy machine it shows what wall time would be alone.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from studentops.datasets.profile import builtin_profile_names, load_profile
from studentops.datasets.synthetic import generate_cohort, write_cohort

TARGET_S = 10.0


def bench(name: str, rows: int, folder: Path) -> list[tuple[str, float, float, float, int]]:
    """Generate once per format (as a CLI run would) and time generation and writing."""
    profile = load_profile(name)
    generate_cohort(profile, 1_000, seed=0)  # warm caches and imports, not timed
    results = []
    for suffix in (".csv", ".parquet"):
        start, cpu = time.perf_counter(), time.process_time()
        frame = generate_cohort(profile, rows, seed=1)
        made = time.perf_counter()
        path = write_cohort(frame, folder / f"{name}{suffix}")
        done = time.perf_counter()
        cpu = time.process_time() - cpu
        results.append((suffix[1:], made - start, done - made, cpu, path.stat().st_size))
        path.unlink()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("profiles", nargs="*", help="profiles (default: all built-in)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    header = f"{'profile':22} {'format':8} {'generate s':>10} {'write s':>8} {'total s':>8}"
    print(f"{args.rows:,} rows\n{header} {'cpu s':>6} {'rows/s':>11} {'MB':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.profiles or builtin_profile_names():
            for fmt, gen, write, cpu, size in bench(name, args.rows, Path(tmp)):
                total = gen + write
                flag = "" if total <= TARGET_S * args.rows / 1_000_000 else "  SLOW"
                print(
                    f"{name:22} {fmt:8} {gen:10.2f} {write:8.2f} {total:8.2f} {cpu:6.2f} "
                    f"{args.rows / total:11,.0f} {size / 2**20:6.0f}{flag}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
