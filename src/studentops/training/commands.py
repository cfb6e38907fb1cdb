"""CLI commands for training: ``train`` (search, fit, log, register) and ``tune`` (shared search).

Thin: each command calls one function of :mod:`studentops.training.pipeline` and shows its
progress. Nothing heavy is imported until a command runs, so ``studentops --help`` stays fast.
"""

from __future__ import annotations

import functools
import inspect
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, ProgressColumn, SpinnerColumn, Task, TextColumn
from rich.table import Table
from rich.text import Text

from studentops.config import load_settings
from studentops.datasets.commands import DataOpt, ProfileOpt, SepOpt
from studentops.tracking import quiet_library_logs

if TYPE_CHECKING:
    from studentops.training.result import TrialRecord

console = Console()


class Split(StrEnum):
    """The held-out split kinds of ``--split`` (see :mod:`studentops.training.split`)."""

    stratified = "stratified"
    random = "random"
    group = "group"
    time = "time"


class FinalFitChoice(StrEnum):
    """``--final-fit``: register the model refitted on all rows, or the evaluated one."""

    all = "all"
    holdout = "holdout"


# The options of every command that runs a search (train and tune), declared once.
SEARCH_OPTIONS: dict[str, tuple[Any, Any]] = {
    "profile": (ProfileOpt, inspect.Parameter.empty),
    "data": (DataOpt, None),
    "time_budget": (
        Annotated[
            float | None,
            typer.Option(
                "--time-budget",
                min=1,
                help="Wall-clock seconds for the whole command (default 60 unless --trials).",
            ),
        ],
        None,
    ),
    "trials": (
        Annotated[
            int | None,
            typer.Option(
                "--trials",
                min=1,
                help="A trial budget instead of a time budget: the same model for the same "
                "data, seed and versions on any machine.",
            ),
        ],
        None,
    ),
    "metric": (
        Annotated[
            str | None, typer.Option("--metric", help="Selection metric (default: the task's).")
        ],
        None,
    ),
    "seed": (
        Annotated[
            int,
            typer.Option(help="Random seed (split, folds, models; tune workers add their pid)."),
        ],
        42,
    ),
    "sep": (SepOpt, None),
    "encoding": (
        Annotated[
            str | None,
            typer.Option(
                "--encoding", help="CSV text encoding (default: the profile's, else detected)."
            ),
        ],
        None,
    ),
    "smote": (
        Annotated[
            bool,
            typer.Option("--smote", help="Oversample minority classes with SMOTE in training."),
        ],
        False,
    ),
    "split": (
        Annotated[
            Split,
            typer.Option(
                "--split", help="Held-out split: stratified, random, by group, or by time."
            ),
        ],
        Split.stratified,
    ),
}
DEFAULT_TIME_BUDGET_S = 60.0


@dataclass(frozen=True)
class SearchOptions:
    """The parsed :data:`SEARCH_OPTIONS` of one command."""

    profile: str
    data: Path | None
    time_budget: float | None
    trials: int | None
    metric: str | None
    seed: int
    sep: str | None
    encoding: str | None
    smote: bool
    split: Split

    @property
    def budget_s(self) -> float | None:
        """The time budget: the one given, else 60 s unless a trial budget was given."""
        if self.time_budget is None and self.trials is None:
            return DEFAULT_TIME_BUDGET_S
        return self.time_budget

    def pipeline_kwargs(self) -> dict[str, Any]:
        """Keyword arguments shared by ``train_and_register`` and ``tune_shared``."""
        return {
            "time_budget_s": self.budget_s,
            "n_trials": self.trials,
            "metric": self.metric,
            "seed": self.seed,
            "sep": self.sep,
            "encoding": self.encoding,
            "smote": self.smote,
            "split": self.split.value,
        }


def with_search_options(fn: Callable[..., None]) -> Callable[..., None]:
    """Give a command the shared :data:`SEARCH_OPTIONS`, handed to it as one
    :class:`SearchOptions` in its first parameter ``opts``; its own options follow."""
    own = [
        p for name, p in inspect.signature(fn, eval_str=True).parameters.items() if name != "opts"
    ]
    shared = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=ann)
        for name, (ann, default) in SEARCH_OPTIONS.items()
    ]
    own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own]

    @functools.wraps(fn)
    def command(**kwargs: Any) -> None:
        opts = SearchOptions(**{name: kwargs.pop(name) for name in SEARCH_OPTIONS})
        fn(opts, **kwargs)

    # Typer reads the signature and the annotations; without __wrapped__ it reads these.
    del command.__wrapped__
    setattr(command, "__signature__", inspect.Signature([*shared, *own]))  # noqa: B010
    command.__annotations__ = {p.name: p.annotation for p in [*shared, *own]}
    return command


class _BudgetColumn(ProgressColumn):
    """A bar of the time budget spent and the seconds left, recomputed at every refresh."""

    def render(self, task: Task) -> Table:
        from rich.progress_bar import ProgressBar

        grid = Table.grid(padding=(0, 1))
        planned = task.fields.get("planned")
        if planned:  # a trial budget: no clock
            done = int(task.fields.get("trials", 0))
            grid.add_row(
                ProgressBar(total=planned, completed=min(done, planned), width=30),
                Text(f"{done}/{planned} trials"),
            )
            return grid
        budget = float(task.fields.get("budget", 0.0)) or 1.0
        left = float(task.fields.get("deadline", 0.0)) - time.monotonic()
        grid.add_row(
            ProgressBar(total=budget, completed=min(max(budget - left, 0.0), budget), width=30),
            Text(f"{left:4.0f}s left" if left > 0 else str(task.fields.get("after", ""))),
        )
        return grid


class TrialProgress:
    """Progress of a search: trials done, best CV score so far and time left.

    Training reports the best score with each trial (it knows the metric's direction) and the
    search time left, which moves the deadline to where the search really ends.
    """

    def __init__(
        self,
        budget_s: float,
        title: str,
        *,
        after: str = "search over",
        enabled: bool = True,
        trials: int | None = None,
    ) -> None:
        self.trials = 0
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            _BudgetColumn(),
            TextColumn("trials [cyan]{task.fields[trials]}"),
            TextColumn("best [green]{task.fields[best]}"),
            console=console,
            transient=False,
            disable=not enabled,
        )
        self.task_id = self.progress.add_task(
            title,
            budget=budget_s,
            deadline=time.monotonic() + budget_s,
            trials=0,
            best="-",
            after=after,
            planned=trials if not budget_s else None,
        )

    def __enter__(self) -> TrialProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, record: TrialRecord) -> None:
        """Count one finished trial; show the best score and move the deadline."""
        self.trials += 1
        fields: dict[str, Any] = {"trials": self.trials}
        if record.best_so_far is not None:
            fields["best"] = f"{record.best_so_far:.4f}"
        if record.time_left_s is not None and record.time_left_s != float("inf"):
            fields["deadline"] = time.monotonic() + record.time_left_s
        self.progress.update(self.task_id, **fields)


def _progress(
    opts: SearchOptions, title: str, *, after: str = "search over", enabled: bool = True
) -> TrialProgress:
    """The progress bar of a command's budget: seconds, or trials under a trial budget."""
    return TrialProgress(
        opts.budget_s or 0.0, title, after=after, enabled=enabled, trials=opts.trials
    )


def _metrics_table(metrics: dict[str, float], selected: str, reason: str | None = None) -> Table:
    """The held-out metrics; a NaN is shown as "undefined" with ``reason`` (or the generic one)."""
    table = Table("test metric", "value", title="held-out test set")
    why = "the reason is below" if reason else "a class is absent from the held-out part"
    for name, value in sorted(metrics.items()):
        if isinstance(value, float) and value != value:
            shown = f"undefined ({why})"
        else:
            shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        table.add_row(f"[bold]{name}[/]" if name == selected else name, shown)
    return table


@with_search_options
def train_cmd(
    opts: SearchOptions,
    final_fit: Annotated[
        FinalFitChoice,
        typer.Option(
            "--final-fit",
            help="all: register the model refitted on every validated row (default); "
            "holdout: register the evaluated model, fitted on the training part only.",
        ),
    ] = FinalFitChoice.all,
    test_data: Annotated[
        Path | None,
        typer.Option(
            "--test-data",
            help="Evaluate on this labelled file kept apart (same profile) instead of "
            "carving a test part out of --data.",
        ),
    ] = None,
    as_of_week: Annotated[
        int | None,
        typer.Option(
            "--as-of-week",
            min=0,
            help="Event-log profile (oulad-pass): train on what was known by the end of week W.",
        ),
    ] = None,
    events_dir: Annotated[
        Path | None,
        typer.Option(help="With --as-of-week: the OULAD folder (default: data_dir/oulad)."),
    ] = None,
) -> None:
    """Validate, split, search, fit, evaluate, log to MLflow and register a challenger."""
    from studentops.datasets.commands import print_summary
    from studentops.output import echoed_by_command
    from studentops.training.budget import process_started
    from studentops.training.pipeline import prepare_training, train_and_register

    started = process_started()  # the budget is the command's, as the user times it
    quiet_library_logs(optuna=True)
    settings = load_settings()
    data, split = opts.data, opts.split
    if as_of_week is not None:
        data, split = _weekly_file(opts.profile, as_of_week, events_dir, settings), Split.group
        console.print(
            f"as of week {as_of_week}: features from events before day {7 * as_of_week} "
            f"of each module -> {data}"
        )
    after = "search over: fitting, evaluating, logging"
    # The pipeline logs its data warnings and a skipped final fit for library use; here the
    # summary and the "registered:" line print them.
    with echoed_by_command("studentops.training.pipeline", "studentops.training.final_fit"):
        # Every input check fails here, before the progress display starts.
        prepared = prepare_training(
            opts.profile,
            data,
            settings=settings,
            sep=opts.sep,
            encoding=opts.encoding,
            test_data=test_data,
            metric=opts.metric,
            split=split.value,
        )
        print_summary(prepared.summary() | {"rejects_file": prepared.rejects_path})
        n_warned = len(prepared.validation.warnings)
        with _progress(opts, "training", after=after) as progress:
            outcome = train_and_register(
                opts.profile,
                data,
                settings=settings,
                **(opts.pipeline_kwargs() | {"split": split.value}),
                on_trial=progress,
                final_fit=final_fit.value,
                test_data=test_data,
                started=started,
                prepared=prepared,
            )
    result = outcome.result
    for warning in outcome.validation.get("warnings", [])[n_warned:]:  # found by training
        console.print(f"  [yellow]warning[/] {warning}")
    console.print(
        f"best {result.algorithm} after {len(result.trials)} trials: "
        f"CV {result.metric} {result.cv_score:.4f}; "
        f"{result.train_rows:,} rows to train, {result.test_rows:,} held out ({result.split})"
    )
    console.print(result.registered_note())
    console.print(_metrics_table(result.test_metrics, result.metric, result.undefined_reason))
    if result.undefined_reason:
        console.print(
            f"held-out metrics undefined: {result.undefined_reason}; this version cannot pass "
            "the promotion score gate (train on more at-risk students, or merge classes with "
            "target.mapping)"
        )
    if outcome.version is not None:
        from studentops.registry.models import fairness_gate

        v = outcome.version
        gate = fairness_gate(
            v.fairness_gap,
            v.fairness_low,
            v.fairness_high,
            settings.fairness_max_gap,
            detail=v.fairness_detail,
        )
        console.print(
            f"fairness gate {'would pass' if gate.passed else 'would FAIL'}: {gate.detail}"
        )
    console.print(f"reports: {result.artifacts_dir}")
    console.print(f"MLflow run {outcome.run_id} ({settings.mlflow_tracking_uri})")
    if outcome.version is not None:
        v = outcome.version
        console.print(
            f"registered [bold]{v.name}[/] version [bold]{v.version}[/] as "
            f"@{', @'.join(v.aliases)}; promote it with: "
            f"studentops promote --profile {result.profile.name}"
        )
    shown = {k: v for k, v in outcome.phases.items() if k != "total" and v >= 0.05}
    console.print(
        f"done in {time.perf_counter() - started:.1f}s ("
        + ", ".join(f"{k} {v:.1f}" for k, v in shown.items())
        + ")"
    )


def _weekly_file(profile: str, week: int, events_dir: Path | None, settings: Any) -> Path:
    """The feature table as of ``week``: :func:`studentops.events.frames.write_weekly_file`."""
    from studentops.events.frames import write_weekly_file

    return write_weekly_file(profile, week, events_dir, settings)


@with_search_options
def tune_cmd(
    opts: SearchOptions,
    storage: Annotated[
        str | None,
        typer.Option(help="Optuna storage URL shared by workers (default: settings)."),
    ] = None,
    study: Annotated[
        str | None, typer.Option("--study", help="Study name (default: studentops-<profile>).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the outcome as JSON (no progress bar).")
    ] = False,
) -> None:
    """Run search trials into a shared Optuna study; start one per core, on any machine."""
    from studentops.training.budget import process_started
    from studentops.training.pipeline import prepare_training, tune_shared

    started = process_started()
    quiet_library_logs(optuna=True)
    settings = load_settings()
    prepared = prepare_training(  # every input check fails before the progress display
        opts.profile,
        opts.data,
        settings=settings,
        sep=opts.sep,
        encoding=opts.encoding,
        metric=opts.metric,
        split=opts.split.value,
    )
    with _progress(opts, "tuning", enabled=not as_json) as progress:
        outcome = tune_shared(
            opts.profile,
            opts.data,
            settings=settings,
            storage=storage,
            study_name=study,
            **opts.pipeline_kwargs(),
            on_trial=progress,
            started=started,
            prepared=prepared,
        )
    if as_json:
        typer.echo(json.dumps(asdict(outcome), indent=2, default=str))
        return
    best = "-" if outcome.best_value is None else f"{outcome.best_value:.4f}"
    console.print(
        f"worker {outcome.worker}: {outcome.trials_here} trials; study '{outcome.study_name}' "
        f"now has {outcome.trials_total} finished trials, best {best}"
    )
    if outcome.best_params:
        console.print(_params_table(outcome.best_params))


def _params_table(params: dict[str, Any]) -> Table:
    table = Table("parameter", "value", title="best trial so far")
    for key, value in params.items():
        table.add_row(str(key), str(value))
    return table


def fairness_cmd(
    profile: ProfileOpt,
    version: Annotated[
        int | None, typer.Option("--version", help="Version (default: champion, else newest).")
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", "-d", help="Audit on this labelled file instead of held-out rows."),
    ] = None,
    sep: SepOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Fairness audit of a version: per-group rates with 95% intervals, gaps, the gate."""
    from studentops.output import print_rows
    from studentops.registry.card_content import fairness_tables
    from studentops.training.audit import audit_version

    quiet_library_logs()
    audit = audit_version(profile, version, data=data, sep=sep)
    if as_json:
        typer.echo(json.dumps(audit.report, indent=2, default=str))
        return
    v = audit.version
    aliases = f" (@{', @'.join(v.aliases)})" if v.aliases else ""
    console.print(
        f"[bold]{v.name} v{v.version}[/]{aliases}: fairness audit on "
        f"{audit.report.get('rows', 0):,} students ({audit.source}); 95% intervals; "
        f"* = fewer than {audit.report.get('min_denominator')} students behind a rate"
    )
    if not audit.report.get("attributes"):
        console.print("the profile names no sensitive attributes: nothing to audit")
    # A table that does not fit the terminal is printed one group per block: nothing is cut.
    for block in fairness_tables(audit.report, digits=2):
        if block.kind != "table":
            console.print(block.text)
            continue
        rows = [[cell.replace("**", "") for cell in row] for row in block.rows]
        print_rows(console, block.header, rows, title=block.caption)
    mark = "[green]pass[/]" if audit.gate.passed else "[red]FAIL[/]"
    console.print(f"{mark} fairness gate: {audit.gate.detail}")


def register(app: typer.Typer) -> None:
    """Add ``train``, ``tune`` and ``fairness`` to the CLI."""
    app.command("train")(train_cmd)
    app.command("tune")(tune_cmd)
    app.command("fairness")(fairness_cmd)
