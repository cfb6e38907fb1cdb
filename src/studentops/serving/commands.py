"""CLI commands of the serving part: ``serve`` (the API) and ``score`` (a whole file offline)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Annotated

import typer

from studentops.config import load_settings
from studentops.errors import ConfigError

# One native thread per worker: with N workers on N cores, OpenMP/BLAS pools spin-wait against
# each other and halve throughput. Set before any worker imports numpy or LightGBM.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


def pin_native_threads(count: int = 1) -> None:
    """Cap OpenMP/BLAS threads for this process and its children (unless already set)."""
    for name in THREAD_VARIABLES:
        os.environ.setdefault(name, str(count))


def serve(
    profile: Annotated[
        str | None, typer.Option("--profile", "-p", help="Profile whose champion to serve.")
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (one per core).")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
) -> None:
    """Serve the champion model over HTTP (OpenAPI docs at /docs)."""
    import uvicorn

    settings = load_settings(serve_profile=profile)
    if not settings.serve_profile:
        raise ConfigError("no profile to serve: give --profile or set serve_profile")
    # Workers are fresh processes that build their own settings: hand them the profile.
    os.environ["STUDENTOPS_SERVE_PROFILE"] = settings.serve_profile
    pin_native_threads(1)
    if workers > 1:
        # Each worker writes its metrics to files here; /metrics merges them.
        metrics_dir = settings.ensure_home() / "serve" / f"prometheus-{port}"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    typer.echo(
        f"serving the champion of '{settings.serve_profile}' on http://{host}:{port} "
        f"({workers} worker{'s' if workers > 1 else ''}); docs at /docs",
        err=True,
    )
    uvicorn.run(
        "studentops.serving.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,
    )


def score(
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            "-d",
            help="CSV or Parquet file to score; columns outside the profile (student_id) are "
            "copied to the output as they are.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output CSV or Parquet file.")],
    profile: Annotated[
        str, typer.Option("--profile", "-p", help="Profile whose champion scores the file.")
    ],
    explain: Annotated[
        bool,
        typer.Option(help="Add each student's top reasons, in percentage points of risk."),
    ] = False,
    top_k: Annotated[int, typer.Option(min=1, max=20, help="Reasons per student.")] = 3,
    sep: Annotated[str | None, typer.Option(help="CSV delimiter (sniffed if omitted).")] = None,
    encoding: Annotated[
        str | None,
        typer.Option(help="CSV text encoding (default: the profile's, else detected)."),
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option(
            help="Rejected rows with reasons (default: beside --out, ranked.csv -> "
            "ranked.rejects.csv)."
        ),
    ] = None,
    log: Annotated[bool, typer.Option(help="Append the predictions to the prediction log.")] = True,
) -> None:
    """Score a whole file offline with the champion: predictions in class labels, ranked by
    risk, banded by the risk_band_mode rule it prints (default: the top 10% high), rejects kept.
    """
    from studentops.serving.batch import score_file

    summary = score_file(
        profile,
        data,
        out,
        explain=explain,
        top_k=top_k,
        sep=sep,
        encoding=encoding,
        rejects=rejects,
        log_predictions=log,
    )
    typer.echo(
        f"scored {summary.accepted:,} of {summary.rows:,} rows with {summary.model_name} "
        f"v{summary.model_version} in {summary.seconds:.2f}s "
        f"({summary.rows_per_s:,.0f} rows/s) -> {summary.out_path}"
    )
    if summary.rejected:
        typer.echo(f"rejected {summary.rejected:,} rows, with reasons -> {summary.rejects_path}")
    typer.echo(f"bands: {summary.band_rule}")
    if log:
        typer.echo(f"logged {summary.logged:,} predictions")
    for warning in summary.warnings:
        typer.echo(f"warning: {warning}", err=True)


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``score`` to the CLI (called by ``cli.PARTS``)."""
    app.command("serve")(serve)
    app.command("score")(score)
