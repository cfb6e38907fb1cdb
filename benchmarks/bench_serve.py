"""Serving benchmark (`make bench-serve`): studentops serve vs mlflow models serve, and batch.

One run trains and registers one model (synthetic students of a built-in profile, in a
throwaway home), then measures with the same model:

1. single-student requests/s and p50/p99 latency at 16 concurrent clients, 2 workers each,
   for ``studentops serve`` and ``mlflow models serve --env-manager local``;
2. rows/s for 1,000-row batches through ``POST /v1/predict``;
3. rows/s for ``studentops score`` on 100,000 rows (read, validate, score, rank, write, log)
   against the bare model's own batch throughput (``StudentModel.predict_proba`` on the
   already validated frame).

The load generator is wrk with a Lua script when installed (``apt-get install wrk``), else a
bounded asyncio/httpx generator in a separate process. Everything runs on loopback.

Usage: python benchmarks/bench_serve.py [--profile NAME] [--duration S] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

VENV_BIN = Path(sys.executable).parent
LUA = textwrap.dedent(
    """
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
    local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
    wrk.body = f:read("*all")
    f:close()
    """
)

HTTPX_LOADGEN = textwrap.dedent(
    """
    import asyncio, json, sys, time
    import httpx
    url, body_path = sys.argv[1], sys.argv[2]
    clients, duration = int(sys.argv[3]), float(sys.argv[4])
    body = open(body_path, "rb").read()
    lat, bad = [], 0
    async def client(c, stop):
        global bad
        while time.perf_counter() < stop:
            t = time.perf_counter()
            r = await c.post(url, content=body, headers={"content-type": "application/json"})
            lat.append(time.perf_counter() - t)
            bad += r.status_code != 200
    async def main():
        limits = httpx.Limits(max_connections=clients)
        async with httpx.AsyncClient(limits=limits, timeout=30) as c:
            start = time.perf_counter(); stop = start + duration
            await asyncio.gather(*(client(c, stop) for _ in range(clients)))
            return time.perf_counter() - start
    took = asyncio.run(main())
    lat.sort()
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000
    print(json.dumps({"rps": len(lat) / took, "p50_ms": q(0.5), "p99_ms": q(0.99),
                      "requests": len(lat), "errors": bad, "tool": "httpx"}))
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not ready after {timeout:.0f}s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server we started, with its workers (it leads its own process group)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def session_cpu_s(session: int) -> float:
    """CPU seconds used so far by every process of a session (a server and its workers).

    On a shared machine requests/s depends on what else runs; CPU per request does not, and
    2 cores / (CPU per request) is what the server would do on its own.
    """
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session:  # field 6 of stat: session id
            total += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return total


def measured(proc: subprocess.Popen[bytes], run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run a load and add the server's CPU milliseconds per request."""
    before = session_cpu_s(proc.pid)
    result = run()
    used = session_cpu_s(proc.pid) - before
    result["server_cpu_ms_per_request"] = used * 1000 / max(result["requests"], 1)
    return result


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def load(url: str, body: Path, clients: int, duration: float, workdir: Path) -> dict[str, Any]:
    """Drive ``url`` with POSTs of ``body`` from ``clients`` connections for ``duration`` s."""
    if shutil.which("wrk"):
        script = workdir / "post.lua"
        script.write_text(LUA)
        out = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{clients}",
                f"-d{duration:.0f}s",
                "--latency",
                "-s",
                str(script),
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "BENCH_BODY": str(body)},
            timeout=duration + 60,
        ).stdout
        dist = dict(re.findall(r"\b(50|99)(?:\.\d+)?%\s+([\d.]+(?:us|ms|s))", out))
        if "99" not in dist:
            raise RuntimeError(f"cannot read wrk's latency distribution:\n{out}")
        non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        errors = re.search(r"Socket errors: .*", out)
        total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
        return {
            "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
            "p50_ms": _ms(dist["50"]),
            "p99_ms": _ms(dist["99"]),
            "requests": total,
            "errors": int(non_2xx.group(1)) if non_2xx else 0,
            "socket_errors": errors.group(0) if errors else "",
            "tool": "wrk",
        }
    gen = workdir / "loadgen.py"
    gen.write_text(HTTPX_LOADGEN)
    out = subprocess.run(
        [sys.executable, str(gen), url, str(body), str(clients), str(duration)],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 120,
    ).stdout
    return json.loads(out)


def prepare(home: Path, profile_name: str, budget: float, rows: int) -> dict[str, Any]:
    """Train, register and promote one model of ``profile_name`` in ``home``."""
    from studentops.config import load_settings
    from studentops.datasets.profile import load_profile
    from studentops.datasets.synthetic import generate_cohort
    from studentops.registry import models
    from studentops.tracking import client_for
    from studentops.training.pipeline import train_and_register

    settings = load_settings(home=home)
    settings.ensure_home()
    profile = load_profile(profile_name)
    data = home / "train.csv"
    generate_cohort(profile, rows, seed=1).to_csv(data, index=False)
    started = time.perf_counter()
    outcome = train_and_register(profile_name, data, settings=settings, time_budget_s=budget)
    assert outcome.version is not None
    models.promote(client_for(settings), profile_name, margin=0.0, max_gap=1.0, force=True)
    return {
        "settings": settings,
        "profile": profile,
        "version": outcome.version.version,
        "algorithm": outcome.result.algorithm,
        "train_s": time.perf_counter() - started,
    }


def start_server(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A venv command as the leader of its own process group (so ``stop`` gets its workers)."""
    return subprocess.Popen(
        [str(VENV_BIN / command[0]), *command[1:]],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def bench_studentops(env: dict[str, str], profile: str, args: Any, work: Path) -> dict[str, Any]:
    port = free_port()
    proc = start_server(
        ["studentops", "serve", "--profile", profile, "--port", str(port), "--workers", "2"],
        env,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/ready", 180, proc)
        load(f"{base}/v1/predict", work / "one.json", 16, 3, work)  # warm-up
        single = measured(
            proc, lambda: load(f"{base}/v1/predict", work / "one.json", 16, args.duration, work)
        )
        batch = load(f"{base}/v1/predict", work / "batch.json", 4, args.duration, work)
        batch["rows_per_s"] = batch["rps"] * args.batch_rows
        return {"single": single, "batch": batch}
    finally:
        stop(proc)


def bench_mlflow(env: dict[str, str], uri: str, args: Any, work: Path) -> dict[str, Any]:
    port = free_port()
    command = ["mlflow", "models", "serve", "-m", uri, "--env-manager", "local"]
    proc = start_server([*command, "-h", "127.0.0.1", "-p", str(port), "--workers", "2"], env)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/ping", 300, proc)
        load(f"{base}/invocations", work / "one_mlflow.json", 16, 3, work)
        return {
            "single": measured(
                proc,
                lambda: load(
                    f"{base}/invocations", work / "one_mlflow.json", 16, args.duration, work
                ),
            )
        }
    finally:
        stop(proc)


def bench_batch(prepared: dict[str, Any], rows: int, work: Path) -> dict[str, Any]:
    """``studentops score`` on ``rows`` rows against the bare model's batch throughput."""
    from studentops.datasets.synthetic import generate_cohort
    from studentops.datasets.validation import validate
    from studentops.serving.batch import load_predictor, score_file

    settings, profile = prepared["settings"], prepared["profile"]
    frame = generate_cohort(profile, rows, seed=11).drop(columns=[profile.target.column])
    data = work / "score_in.csv"
    frame.to_csv(data, index=False)
    predictor = load_predictor(profile.name, settings)
    valid = validate(frame, profile, require_target=False).valid[predictor.features]
    model = predictor.model
    # the bare model's own batch output: probabilities, or values for a regression
    bare_predict = model.predict if predictor.task == "regression" else model.predict_proba
    bare_predict(valid.head(1000))  # warm caches
    # Interleaved and timed in CPU seconds too: on a shared machine, wall time drifts with
    # other processes' load between the runs being compared.
    bare, bare_cpu, runs, runs_cpu = [], [], [], []
    for _ in range(2):
        c, t = time.process_time(), time.perf_counter()
        bare_predict(valid)
        bare.append(time.perf_counter() - t)
        bare_cpu.append(time.process_time() - c)
        c = time.process_time()
        runs.append(score_file(profile.name, data, work / "scored.csv", settings=settings))
        runs_cpu.append(time.process_time() - c)
    best = min(runs, key=lambda s: s.seconds)
    no_log = score_file(
        profile.name, data, work / "scored.csv", settings=settings, log_predictions=False
    )
    bare_s = min(bare)
    return {
        "rows": rows,
        "bare_rows_per_s": rows / bare_s,
        "score_rows_per_s": best.rows_per_s,
        "score_no_log_rows_per_s": no_log.rows_per_s,
        "ratio": best.rows_per_s / (rows / bare_s),
        "ratio_no_log": no_log.rows_per_s / (rows / bare_s),
        "bare_cpu_s": min(bare_cpu),
        "score_cpu_s": min(runs_cpu),
        "ratio_cpu": min(bare_cpu) / min(runs_cpu),
        "stages_s": {k: round(v, 3) for k, v in best.timings.items()},
        "logged": best.logged,
    }


def bodies(prepared: dict[str, Any], batch_rows: int, work: Path) -> None:
    """Request bodies: one student, a batch, and one student in MLflow's format."""
    import pandas as pd

    from studentops.datasets.synthetic import generate_cohort

    profile = prepared["profile"]
    frame = generate_cohort(profile, batch_rows, seed=5)[profile.feature_columns]
    records = json.loads(frame.to_json(orient="records"))
    for i, rec in enumerate(records):
        rec["student_id"] = f"bench-{i}"
    (work / "one.json").write_text(json.dumps(records[0]))
    (work / "batch.json").write_text(json.dumps(records))
    one = {k: v for k, v in records[0].items() if k != "student_id"}
    (work / "one_mlflow.json").write_text(json.dumps({"dataframe_records": [one]}))
    assert isinstance(frame, pd.DataFrame)


def report(res: dict[str, Any]) -> str:
    s, m = res["studentops"]["single"], res["mlflow"]["single"]
    b, f = res["studentops"]["batch"], res["batch"]
    lines = [
        f"model: {res['model']} (profile {res['profile']}, v{res['version']}); "
        f"load generator: {s['tool']}; {os.cpu_count()} cores; load average before the run "
        f"{res['load_before']}",
        "",
        "single student, 16 clients, 2 workers   studentops serve   mlflow models serve   ratio",
        f"  requests/s                             {s['rps']:>16,.0f}   {m['rps']:>19,.0f}"
        f"   {s['rps'] / max(m['rps'], 1e-9):>5.1f}x",
        f"  p50 latency (ms)                       {s['p50_ms']:>16.2f}   {m['p50_ms']:>19.2f}",
        f"  p99 latency (ms)                       {s['p99_ms']:>16.2f}   {m['p99_ms']:>19.2f}",
        f"  failed requests                        {s['errors']:>16}   {m['errors']:>19}",
        f"  server CPU per request (ms)            {s['server_cpu_ms_per_request']:>16.2f}   "
        f"{m['server_cpu_ms_per_request']:>19.2f}",
        f"  -> requests/s if 2 cores were the server's alone: "
        f"{2000 / s['server_cpu_ms_per_request']:,.0f} vs "
        f"{2000 / m['server_cpu_ms_per_request']:,.0f}",
        "",
        f"1,000-row batches via POST /v1/predict (4 clients): {b['rows_per_s']:,.0f} rows/s "
        f"(p50 {b['p50_ms']:.0f} ms per batch)",
        f"studentops score, {f['rows']:,} rows: {f['score_rows_per_s']:,.0f} rows/s end to end "
        f"({f['score_no_log_rows_per_s']:,.0f} without the prediction log)",
        f"bare model batch (predict_proba on the validated frame): {f['bare_rows_per_s']:,.0f} "
        f"rows/s -> score/bare = {f['ratio']:.2f} ({f['ratio_no_log']:.2f} without log)",
        f"in CPU seconds (all threads): bare {f['bare_cpu_s']:.1f}s, score {f['score_cpu_s']:.1f}s "
        f"-> score/bare = {f['ratio_cpu']:.2f}",
        f"score stages (s): {f['stages_s']}",
        "",
        "targets: >= 2,500 req/s and > 10x mlflow, p99 < 20 ms; score >= 0.5x bare model",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="uci-dropout-binary")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per load run")
    parser.add_argument("--budget", type=float, default=20.0, help="training budget (s)")
    parser.add_argument("--train-rows", type=int, default=3000)
    parser.add_argument("--batch-rows", type=int, default=1000)
    parser.add_argument("--score-rows", type=int, default=100_000)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    home = work / "home"
    os.environ.update(
        STUDENTOPS_HOME=str(home),
        STUDENTOPS_CONFIG=str(work / "none.yaml"),
        OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"),
    )
    load_before = " ".join(f"{x:.1f}" for x in os.getloadavg())
    try:
        print(f"training a model of {args.profile} ({args.budget:.0f}s budget)...", flush=True)
        prepared = prepare(home, args.profile, args.budget, args.train_rows)
        bodies(prepared, args.batch_rows, work)
        settings = prepared["settings"]
        env = {
            **os.environ,
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
            "STUDENTOPS_RELOAD_INTERVAL_S": "3600",
        }
        print("studentops serve...", flush=True)
        ours = bench_studentops(env, args.profile, args, work)
        print("mlflow models serve...", flush=True)
        uri = f"models:/studentops-{args.profile}/{prepared['version']}"
        theirs = bench_mlflow(env, uri, args, work)
        print(f"studentops score on {args.score_rows:,} rows...", flush=True)
        batch = bench_batch(prepared, args.score_rows, work)
        results = {
            "load_before": load_before,
            "profile": args.profile,
            "model": prepared["algorithm"],
            "version": prepared["version"],
            "studentops": ours,
            "mlflow": theirs,
            "batch": batch,
        }
        print()
        print(report(results))
        if args.json:
            args.json.write_text(json.dumps(results, indent=2, default=str))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
