"""CLI for event logs: ``events features``, ``events generate``, ``events score``.

Thin: each command parses and calls one function of :mod:`studentops.events`; heavy imports
happen inside the command so ``studentops --help`` stays fast. ``events evaluate`` (the
early-warning study trains models) is added to :data:`events_app` by
:mod:`studentops.training.early_warning.commands`, so events never imports training.
"""

from __future__ import annotations

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
    from studentops.events.job import weekly_features_job
    from studentops.events.weekly import weeks_arg

    if (oulad is None) == (events is None):
        raise DataError("give either --oulad DIR or --events FILE --mapping FILE")
    if events is not None and mapping is None:
        raise DataError("--events needs --mapping")
    job = weekly_features_job(
        out, weeks=weeks_arg(weeks), oulad=oulad, events=events, mapping=mapping, report=report
    )
    typer.echo(job.report_text)
    typer.echo(
        f"wrote {job.rows:,} rows x {job.columns} columns to {job.out_path} in {job.seconds:.1f}s"
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
    include_withdrawn: Annotated[
        bool,
        typer.Option(
            "--include-withdrawn",
            help="Keep students already withdrawn at the cut-off (left out by default).",
        ),
    ] = False,
) -> None:
    """Who is at risk now: score week W of the current presentation with the champion.

    Train the champion on finished presentations at the same week first:
    ``studentops train --profile oulad-pass --as-of-week W`` then ``studentops promote``.
    """
    from studentops.serving.weekly import score_week
    from studentops.tracking import quiet_library_logs

    quiet_library_logs()
    result = score_week(
        week,
        out,
        profile=profile,
        oulad_dir=oulad,
        presentation=presentation,
        explain_top=explain,
        include_withdrawn=include_withdrawn,
    )
    typer.echo(
        f"week {result.week} of {result.presentation}: scored {result.accepted:,} of "
        f"{result.rows:,} enrolments with {result.model_name} v{result.model_version}, "
        f"reasons for the top {result.explained} -> {result.out_path}"
    )
    if result.band_rule:
        counts = ", ".join(f"{band} {n:,}" for band, n in result.band_counts.items())
        typer.echo(f"bands: {result.band_rule}" + (f" ({counts})" if counts else ""))
    if result.withdrawn_left_out:
        typer.echo(
            f"left out {result.withdrawn_left_out:,} students already withdrawn by week "
            f"{result.week} (--include-withdrawn keeps them)"
        )
    if not result.has_click_log:
        typer.echo(
            "no click log in the folder (studentVle.csv): activity features are empty, the "
            "model ranks from assessments and registrations only"
        )
    if result.rejected:
        typer.echo(f"rejected {result.rejected:,} rows (see the validation reasons)", err=True)


def register(app: typer.Typer) -> None:
    """Add the ``events ...`` commands to ``app``."""
    events_app.command("features")(features_cmd)
    events_app.command("generate")(generate_cmd)
    events_app.command("score")(score_cmd)
    app.add_typer(events_app, name="events")
