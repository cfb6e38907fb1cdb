"""CLI commands for the registry: ``promote``, ``rollback`` and ``models``.

A refused promotion prints each gate with its figures and exits 1 (PromotionRefused), so a
script or CI job can tell "not good enough" from a usage error (exit 2).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from studentops.config import load_settings
from studentops.tracking import quiet_library_logs

if TYPE_CHECKING:
    from studentops.registry.models import VersionSummary

console = Console()

ProfileOpt = Annotated[
    str, typer.Option("--profile", "-p", help="Profile whose registered model to act on.")
]


def _profile_name(profile: str) -> str:
    """A built-in name, a name in profiles_dir or a YAML path, resolved as every command does."""
    from studentops.datasets.profile import profile_name

    return profile_name(profile, load_settings())


def promote_cmd(
    profile: ProfileOpt,
    force: Annotated[
        bool, typer.Option("--force", help="Promote even if a gate fails (gates still shown).")
    ] = False,
    version: Annotated[
        int | None, typer.Option("--version", help="Promote this version, not the challenger.")
    ] = None,
) -> None:
    """Make the challenger champion if it beats the champion and passes the fairness gate."""
    from studentops.registry.models import PromotionRefused, promote
    from studentops.tracking import client_for

    quiet_library_logs()
    settings = load_settings()
    decision = promote(
        client_for(settings),
        _profile_name(profile),
        margin=settings.promote_margin,
        max_gap=settings.fairness_max_gap,
        force=force,
        version=version,
    )
    for gate in decision.gates:
        mark = "[green]pass[/]" if gate.passed else "[red]FAIL[/]"
        console.print(f"{mark} {gate.name}: {gate.detail}")
    if not decision.promoted:
        failed = " and ".join(g.name for g in decision.failed)
        raise PromotionRefused(
            f"{decision.name} v{decision.version} not promoted: {failed} gate failed "
            "(figures above; --force to promote anyway)"
        )
    previous = f" (previous champion: v{decision.previous})" if decision.previous else ""
    forced = " [yellow]by --force[/]" if decision.forced else ""
    console.print(
        f"promoted [bold]{decision.name}[/] v{decision.version} to @champion{forced}{previous}"
    )


def rollback_cmd(profile: ProfileOpt) -> None:
    """Give @champion back to the previous champion."""
    from studentops.registry.models import rollback
    from studentops.tracking import client_for

    quiet_library_logs()
    result = rollback(client_for(load_settings()), _profile_name(profile))
    console.print(
        f"rolled back [bold]{result.name}[/]: @champion is v{result.restored} again "
        f"(was v{result.demoted})"
    )


def models_cmd(
    profile: ProfileOpt,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the profile's model versions with aliases and held-out metrics."""
    from studentops.errors import ModelError
    from studentops.registry.models import list_versions, registered_model_name
    from studentops.tracking import client_for

    quiet_library_logs()
    name = _profile_name(profile)
    versions = list_versions(client_for(load_settings()), name)
    if not versions:
        raise ModelError(f"no registered model {registered_model_name(name)}: train one first")
    if as_json:
        rows = [
            {
                "version": v.version,
                "aliases": v.aliases,
                "created": v.created.isoformat(),
                "algorithm": v.algorithm,
                "metric": v.metric,
                "score": v.score,
                "fairness_max_gap": v.fairness_gap,
                "test_metrics": v.test_metrics,
                "registered_fit": v.registered_fit,
                "run_id": v.run_id,
            }
            for v in versions
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    metric_names = _shown_metrics(versions)
    if console.width < WIDE_TABLE:
        _print_versions_vertically(versions, metric_names)
        return
    table = Table(
        title=versions[0].name,
        caption="underlined: the selection metric; metrics: held out, of the evaluated model; "
        "fitted on: the registered model's rows",
    )
    table.add_column("version", no_wrap=True)
    table.add_column("aliases", no_wrap=True)
    table.add_column("created (UTC)", no_wrap=True)
    table.add_column("algorithm", overflow="fold", max_width=36)
    table.add_column("fitted on", no_wrap=True)
    table.add_column("fairness gap", justify="right")
    for metric in metric_names:
        table.add_column(metric, justify="right", no_wrap=True)
    table.add_column("run", no_wrap=True)
    for v in versions:
        aliases = " ".join(f"@{a}" for a in v.aliases)
        style = "bold green" if "champion" in v.aliases else None
        table.add_row(
            v.version,
            aliases,
            v.created.strftime("%Y-%m-%d %H:%M"),
            v.algorithm or "-",
            _fitted_on(v),
            "-" if v.fairness_gap is None else f"{v.fairness_gap:.4f}",
            *(_cell(v.test_metrics.get(m), m == v.metric) for m in metric_names),
            (v.run_id or "-")[:8],
            style=style,
        )
    console.print(table)


# Below this terminal width the table would cut names and collapse columns: one block per
# version instead (measured: 8 columns + 4 metrics need about 150 characters).
WIDE_TABLE = 150


def _print_versions_vertically(versions: list[VersionSummary], metric_names: list[str]) -> None:
    """One block per version, a field per line: readable in an 80-column terminal."""
    from rich.padding import Padding

    console.print(
        f"[bold]{versions[0].name}[/]  (underlined: the selection metric; metrics: held out, "
        "of the evaluated model)"
    )
    for v in versions:
        aliases = " ".join(f"@{a}" for a in v.aliases)
        style = "bold green" if "champion" in v.aliases else "bold"
        console.print(f"[{style}]v{v.version}[/] {aliases}".rstrip())
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column(overflow="fold")
        grid.add_row("created (UTC)", v.created.strftime("%Y-%m-%d %H:%M"))
        grid.add_row("algorithm", v.algorithm or "-")
        grid.add_row("fitted on", _fitted_on(v))
        gap = "-" if v.fairness_gap is None else f"{v.fairness_gap:.4f}"
        grid.add_row("fairness gap", gap)
        for m in metric_names:
            grid.add_row(m, _cell(v.test_metrics.get(m), m == v.metric))
        grid.add_row("run", v.run_id or "-")
        console.print(Padding(grid, (0, 0, 0, 2)))


# Metrics worth a column, in this order; --json lists every one.
_TABLE_METRICS = ("roc_auc", "f1_macro", "f1", "accuracy", "log_loss", "r2", "rmse", "mae")


def _shown_metrics(versions: list[VersionSummary]) -> list[str]:
    """Each version's selection metric, then the usual ones that any version has."""
    present = {k for v in versions for k in v.test_metrics}
    selected = [m for m in dict.fromkeys(v.metric for v in versions) if m in present]
    return selected + [m for m in _TABLE_METRICS if m in present and m not in selected][:4]


def _fitted_on(v: VersionSummary) -> str:
    """The registered model's rows (``all 2,392 rows``); ``-`` for versions from before."""
    return v.registered_fit or "-"


def _cell(value: float | None, selected: bool) -> str:
    if value is None:
        return "-"
    return f"[u]{value:.4f}[/]" if selected else f"{value:.4f}"


def register(app: typer.Typer) -> None:
    """Add the ``promote``, ``rollback`` and ``models`` commands to the CLI app."""
    app.command("promote")(promote_cmd)
    app.command("rollback")(rollback_cmd)
    app.command("models")(models_cmd)
