"""CLI for event logs: ``events features``, ``events generate``, ``events evaluate``.

Thin: each command calls functions of :mod:`studentops.events`; heavy imports happen inside the
command so ``studentops --help`` stays fast. ``evaluate --profile oulad-pass --weeks ...`` is also
registered at the top level when no other part has taken the name.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from studentops.errors import DataError

events_app = typer.Typer(
    help="Learning-platform event logs: clean, weekly features, early warning."
)

WeeksOpt = Annotated[
    str, typer.Option("--weeks", "-w", help="Cut-off weeks: 2,4,6 or 2-30:2 (start-stop:step).")
]


def _write(frame: object, out: Path) -> None:
    import polars as pl

    assert isinstance(frame, pl.DataFrame)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() in (".parquet", ".pq"):
        frame.write_parquet(out)
    elif out.suffix.lower() == ".csv":
        frame.write_csv(out)
    else:
        raise DataError(f"{out}: write .parquet or .csv")


def features_cmd(
    weeks: WeeksOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output .parquet or .csv.")],
    oulad: Annotated[
        Path | None, typer.Option("--oulad", help="OULAD folder (CSV tables).")
    ] = None,
    events: Annotated[
        Path | None, typer.Option("--events", help="An LMS export (CSV/Parquet) to map.")
    ] = None,
    mapping: Annotated[
        Path | None, typer.Option("--mapping", help="YAML mapping for --events.")
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write the cleaning report as JSON here.")
    ] = None,
) -> None:
    """Clean an event log and write one row per (student, presentation, week)."""
    from studentops.events.cleaning import clean_events
    from studentops.events.mapping import load_events
    from studentops.events.oulad import read_oulad
    from studentops.events.weekly import build_weekly_features, weeks_arg

    started = time.perf_counter()
    if (oulad is None) == (events is None):
        raise DataError("give either --oulad DIR or --events FILE --mapping FILE")
    if oulad is not None:
        log, students = read_oulad(oulad)
    else:
        if mapping is None:
            raise DataError("--events needs --mapping")
        assert events is not None
        log, students = load_events(events, mapping), None
    from studentops.events.current import profile_columns

    cleaned = clean_events(log)
    frame = build_weekly_features(cleaned.log, students, weeks_arg(weeks))
    if oulad is not None:  # the same columns the oulad-pass model is trained on
        frame = profile_columns(frame)
    _write(frame, out)
    typer.echo(str(cleaned.report))
    if report is not None:
        report.write_text(json.dumps(cleaned.report.summary(), indent=2), encoding="utf-8")
    typer.echo(
        f"wrote {frame.height:,} rows x {frame.width} columns to {out} "
        f"in {time.perf_counter() - started:.1f}s"
    )


def generate_cmd(
    students: Annotated[int, typer.Option("--students", "-n", min=1, help="Students.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the OULAD-shaped CSVs.")],
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    clicks: Annotated[
        float, typer.Option("--clicks-per-student", help="Mean activity rows per student.")
    ] = 100.0,
) -> None:
    """Write a synthetic OULAD-shaped folder (with a click log) for N students."""
    from studentops.events.synthetic import generate_oulad, write_oulad

    tables = generate_oulad(students, seed=seed, clicks_per_student=clicks)
    for path in write_oulad(tables, out):
        typer.echo(f"{path}  {tables[path.stem].height:,} rows")


def evaluate_cmd(
    weeks: WeeksOpt = "2-30:2",
    profile: Annotated[
        str, typer.Option("--profile", "-p", help="Only oulad-pass is supported.")
    ] = "oulad-pass",
    time_budget: Annotated[
        float, typer.Option("--time-budget", help="Seconds of training per week.")
    ] = 20.0,
    split: Annotated[
        str, typer.Option("--split", help="group (by student) or presentation (2014B test).")
    ] = "group",
    oulad: Annotated[
        Path | None, typer.Option("--oulad", help="OULAD folder (default: data_dir/oulad).")
    ] = None,
    model: Annotated[
        str,
        typer.Option(
            "--model", help="search (the platform's train_model) or baseline (one LightGBM)."
        ),
    ] = "search",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Folder for the table (CSV) and plot (PNG) (default: <home>/reports/"
            "early-warning).",
        ),
    ] = None,
) -> None:
    """Early warning by week: train per cut-off week, report ROC-AUC, recall@P0.8 and F1."""
    from studentops.config import load_settings
    from studentops.events.early_warning import (
        PROFILE,
        evaluate_by_week,
        model_by_name,
        plot_by_week,
    )
    from studentops.events.weekly import weeks_arg
    from studentops.tracking import quiet_library_logs

    if profile != PROFILE:
        raise DataError(f"evaluate by week supports the '{PROFILE}' profile, not '{profile}'")
    quiet_library_logs(optuna=True)
    if out is None:
        out = load_settings().ensure_home() / "reports" / "early-warning"
    result = evaluate_by_week(
        weeks_arg(weeks),
        time_budget,
        oulad_dir=oulad,
        split=split,
        fit_predict=model_by_name(model),
    )
    out.mkdir(parents=True, exist_ok=True)
    table_path = out / f"by-week-{split}-{model}.csv"
    result.table.to_csv(table_path, index=False)
    plot = plot_by_week(result, out / f"by-week-{split}-{model}.png")
    typer.echo(result.to_text())
    typer.echo(f"model: {result.model}; table {table_path}; plot {plot}")


def score_cmd(
    week: Annotated[int, typer.Option("--week", min=1, help="Cut-off week: score as of its end.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Ranked list (.csv or .parquet).")],
    profile: Annotated[
        str, typer.Option("--profile", "-p", help="Event-log profile whose champion scores.")
    ] = "oulad-pass",
    oulad: Annotated[
        Path | None, typer.Option("--oulad", help="OULAD-shaped folder (default: data_dir/oulad).")
    ] = None,
    presentation: Annotated[
        str | None,
        typer.Option(help="The running presentation (default: the latest in the folder)."),
    ] = None,
    explain: Annotated[
        int, typer.Option("--explain", min=0, help="Add reasons for this many top students.")
    ] = 50,
) -> None:
    """Who is at risk now: score week W of the current presentation with the champion.

    Train the champion on finished presentations at the same week first:
    ``studentops train --profile oulad-pass --as-of-week W`` then ``studentops promote``.
    """
    from studentops.events.current import score_week
    from studentops.tracking import quiet_library_logs

    quiet_library_logs()
    result = score_week(
        week, out, profile=profile, oulad_dir=oulad, presentation=presentation, explain_top=explain
    )
    typer.echo(
        f"week {result.week} of {result.presentation}: scored {result.accepted:,} of "
        f"{result.rows:,} enrolments with {result.model_name} v{result.model_version}, "
        f"reasons for the top {result.explained} -> {result.out_path}"
    )
    if result.rejected:
        typer.echo(f"rejected {result.rejected:,} rows (see the validation reasons)", err=True)


def register(app: typer.Typer) -> None:
    """Add ``events ...`` and, if free, a top-level ``evaluate``."""
    events_app.command("features")(features_cmd)
    events_app.command("generate")(generate_cmd)
    events_app.command("evaluate")(evaluate_cmd)
    events_app.command("score")(score_cmd)
    app.add_typer(events_app, name="events")
    taken = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    if "evaluate" not in taken:
        app.command("evaluate")(evaluate_cmd)
