"""CLI: ``studentops privacy purge | erase | rotate-key``: thin over :mod:`.retention` and
:mod:`.keys`. Each prints what it removed or changed, place by place (``--json`` for scripts).
The raw student id given to ``erase`` is never printed back nor logged.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from studentops.config import load_settings

if TYPE_CHECKING:
    from studentops.privacy.retention import Removal

console = Console()
privacy_app = typer.Typer(
    help="Student data: purge past retention, erase one student, rotate the pseudonym key.",
    no_args_is_help=True,
)
NEW_KEY_ENV = "STUDENTOPS_NEW_PSEUDONYM_KEY"
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]


def _show(removal: Removal, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(removal.to_dict(), indent=2))
        return
    for table, count in removal.rows.items():
        console.print(f"{table}: {count:,} row(s) deleted")
    for path, what in removal.files.items():
        console.print(f"{path}: {what}")
    for note in removal.notes:
        console.print(f"[dim]{note}[/]")
    console.print(f"{removal.action}: {removal.total_rows:,} row(s) deleted in all")


@privacy_app.command("purge")
def purge_cmd(
    older_than: Annotated[
        float | None,
        typer.Option("--older-than", min=0, help="Days to keep (default: privacy_retention_days)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete prediction-log, outcome and monitoring rows (and data files) past retention."""
    from studentops.privacy.retention import purge

    _show(purge(load_settings(), older_than), as_json)


@privacy_app.command("erase")
def erase_cmd(
    student_id: Annotated[str, typer.Option("--student-id", help="The student's raw id.")],
    as_json: JsonOpt = False,
) -> None:
    """Delete one student's rows everywhere studentops stores them, and say what was removed."""
    from studentops.privacy.retention import erase

    _show(erase(load_settings(), student_id), as_json)


@privacy_app.command("rotate-key")
def rotate_cmd(
    ids: Annotated[Path, typer.Option("--ids", help="CSV/Parquet roster of raw student ids.")],
    id_column: Annotated[
        str | None, typer.Option("--id-column", help="Roster column of ids (default: first).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-key stored student keys to the key in $STUDENTOPS_NEW_PSEUDONYM_KEY."""
    from studentops.errors import ConfigError, DataError
    from studentops.privacy.keys import rotate_key

    new_key = os.environ.get(NEW_KEY_ENV, "")
    if not new_key:
        raise ConfigError(f"set the new key in ${NEW_KEY_ENV} (never on the command line)")
    roster = _roster(ids, id_column)
    if not roster:
        raise DataError(f"{ids}: no ids in the roster")
    rotation = rotate_key(load_settings(), new_key, roster)
    if as_json:
        typer.echo(json.dumps(rotation.to_dict(), indent=2))
        return
    for table, count in rotation.rekeyed.items():
        left = rotation.unmatched.get(table, 0)
        console.print(f"{table}: {count:,} row(s) re-keyed; {left:,} matched no roster id")
    console.print(
        f"{rotation.roster_ids:,} roster ids. Now set pseudonym_key to the new key; keep the old "
        "one in pseudonym_previous_keys while unmatched rows remain."
    )


def _roster(path: Path, column: str | None) -> list[Any]:
    from studentops.datasets.loading import read_table
    from studentops.errors import DataError

    frame = read_table(path)
    name = column or str(frame.columns[0])
    if name not in frame.columns:
        raise DataError(f"{path}: no column '{name}'")
    return [v for v in frame[name].tolist() if v is not None and str(v).strip()]


def register(app: typer.Typer) -> None:
    """Add the ``privacy`` group (purge, erase, rotate-key) to the CLI app."""
    app.add_typer(privacy_app, name="privacy")
