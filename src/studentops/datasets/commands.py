"""CLI commands for the data part: profiles, validation, synthetic cohorts."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from studentops.config import load_settings

console = Console()

ProfileOpt = Annotated[
    str, typer.Option("--profile", "-p", help="Built-in profile name or YAML path.")
]
DataOpt = Annotated[
    Path | None,
    typer.Option("--data", "-d", help="CSV or Parquet file (default: the profile's seed file)."),
]
SepOpt = Annotated[str | None, typer.Option("--sep", help="CSV delimiter (sniffed when omitted).")]
EncodingOpt = Annotated[
    str | None,
    typer.Option(
        "--encoding",
        help="CSV text encoding: utf-8, utf-16, cp1252... (default: the profile's, else detected).",
    ),
]


def profile_list() -> None:
    """List the built-in profiles (and those in settings.profiles_dir)."""
    from studentops.datasets.profile import builtin_profile_names, resolve_profile

    settings = load_settings()
    # Fits 80 columns: simple rules instead of boxes, names never cut, long cells wrapped.
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    table.add_column("profile", no_wrap=True)
    table.add_column("task", no_wrap=True)
    table.add_column("target", overflow="fold")
    table.add_column("features", justify="right", no_wrap=True)
    table.add_column("default data", overflow="fold")
    names = builtin_profile_names()
    if settings.profiles_dir and settings.profiles_dir.is_dir():
        names += sorted(p.stem for p in settings.profiles_dir.glob("*.yaml"))
    for name in names:
        p = resolve_profile(name, settings)
        source = p.source.file if p.source else "-"
        table.add_row(p.name, p.task, p.target.column, str(len(p.feature_columns)), source)
    console.print(table)


def profile_show(name: Annotated[str, typer.Argument(help="Profile name or YAML path.")]) -> None:
    """Print a profile as YAML."""
    from studentops.datasets.profile import resolve_profile

    typer.echo(resolve_profile(name).to_yaml(), nl=False)


def profile_infer(
    file: Annotated[Path, typer.Argument(help="CSV or Parquet file.")],
    name: Annotated[str, typer.Option(help="Name of the new profile.")] = "my-dataset",
    target: Annotated[str | None, typer.Option(help="Target column (guessed if omitted).")] = None,
    sep: SepOpt = None,
    encoding: EncodingOpt = None,
    out: Annotated[
        Path | None, typer.Option(help="Write the draft here (default: stdout).")
    ] = None,
) -> None:
    """Draft a profile for a new dataset; edit it, then use it with --profile FILE.

    Every guess to check and every open question is printed (on stderr, and as comments at
    the top of the draft).
    """
    from studentops.datasets.infer import draft_from_file

    draft = draft_from_file(str(file), name=name, sep=sep, target=target, encoding=encoding)
    text = draft.to_yaml()
    for note in draft.notes:
        typer.echo(f"guess: {note}", err=True)
    for question in draft.questions:
        typer.echo(f"QUESTION: {question}", err=True)
    if out:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}")
    else:
        typer.echo(text, nl=False)


def validate_cmd(
    profile: ProfileOpt,
    data: DataOpt = None,
    sep: SepOpt = None,
    encoding: EncodingOpt = None,
    rejects: Annotated[Path | None, typer.Option(help="Rejects CSV (default under home).")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the accepted rows here.")] = None,
    no_target: Annotated[
        bool, typer.Option("--no-target", help="Data to score: no target.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Check every row against the profile; rejects go to a file with row, column and reason."""
    from studentops.datasets.validation import validate_file, write_rejects
    from studentops.errors import DataError

    settings = load_settings()
    try:
        prof, result = validate_file(
            profile,
            data,
            sep=sep,
            require_target=not no_target,
            settings=settings,
            encoding=encoding,
        )
    except DataError as exc:
        if no_target or not str(exc).startswith("no target:"):
            raise
        raise DataError(f"{exc} (use --no-target to validate data to score)") from exc
    rejects_path = write_rejects(result, prof.name, settings, rejects)
    if out:
        from studentops.datasets.synthetic import write_cohort

        write_cohort(result.valid, out)
    summary = result.summary() | {"rejects_file": str(rejects_path) if rejects_path else None}
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        print_summary(summary)


def print_summary(summary: dict) -> None:
    """Print a validation summary (``ValidationResult.summary()``): counts, reasons, warnings."""
    console.print(
        f"rows {summary['rows']:,}  accepted [green]{summary['accepted']:,}[/]  "
        f"rejected [red]{summary['rejected']:,}[/]"
    )
    for reason, count in summary["reasons"].items():
        console.print(f"  {count:>7,}  {reason}")
    for warning in summary["warnings"]:
        console.print(f"  [yellow]warning[/] {warning}")
    if summary.get("skipped"):
        console.print(f"  skipped {summary['skipped']:,} row(s) that are no student (see warnings)")
    if summary.get("rejects_file"):
        console.print(f"rejects: {summary['rejects_file']}")


def generate_cmd(
    profile: ProfileOpt,
    rows: Annotated[int, typer.Option(min=1, help="How many students.")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same cohort).")] = 42,
    out: Annotated[Path, typer.Option(help="Output file (.csv or .parquet).")] = Path("cohort.csv"),
    drift: Annotated[
        list[str] | None,
        typer.Option(
            help="Drift scenario, e.g. 'Absences:+40%'; repeatable. See docs/synthetic.md."
        ),
    ] = None,
) -> None:
    """Write a synthetic cohort in a profile's schema (optionally drifted)."""
    from studentops.datasets.profile import resolve_profile
    from studentops.datasets.synthetic import generate_cohort, parse_drift, write_cohort

    prof = resolve_profile(profile)
    drifts = [parse_drift(spec) for spec in drift or []]
    start = time.perf_counter()
    frame = generate_cohort(prof, rows=rows, seed=seed, drifts=drifts)
    write_cohort(frame, out)
    took = time.perf_counter() - start
    typer.echo(f"wrote {rows:,} rows of '{prof.name}' to {out} in {took:.2f}s")


def register(app: typer.Typer) -> None:
    """Add the ``profile`` group and the ``validate`` and ``generate`` commands to the CLI app."""
    profile_app = typer.Typer(help="Dataset profiles: list, show, infer.", no_args_is_help=True)
    profile_app.command("list")(profile_list)
    profile_app.command("show")(profile_show)
    profile_app.command("infer")(profile_infer)
    app.add_typer(profile_app, name="profile")
    app.command("validate")(validate_cmd)
    app.command("generate")(generate_cmd)
