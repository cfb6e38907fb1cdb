"""How the CLI prints: tables that fit the terminal, and log warnings a command echoes itself.

``print_rows`` prints a table when it fits the console's width and otherwise one block per row
(the row's first cell as its heading, then a "column  value" line per cell), so an 80-column
terminal never cuts names to ``student-p…`` nor wraps a table's lines. ``echoed_by_command``
keeps a library logger's warnings out of the CLI's log handler while a command that prints
them itself (in its summary) runs: each warning is shown once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table


def print_rows(
    out: Console,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    title: str | None = None,
    caption: str | None = None,
) -> None:
    """``rows`` under ``header`` as a table if it fits ``out``'s width, else as blocks."""
    table = Table(*header, title=title, title_justify="left", caption=caption)
    for row in rows:
        table.add_row(*row)
    natural = out.measure(table, options=out.options.update_width(100_000)).maximum
    if natural <= out.width:
        out.print(table)
        return
    if title:
        out.print(f"[bold]{title}[/]")
    for row in rows:
        out.print(f"[bold]{escape(row[0])}[/]" if row else "")
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="dim", overflow="fold", max_width=max(out.width // 3, 8))
        grid.add_column(overflow="fold")
        for name, cell in zip(header[1:], row[1:], strict=False):
            grid.add_row(name, cell)
        out.print(Padding(grid, (0, 0, 0, 2)))
    if caption:
        out.print(caption)


class _DropWarnings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno != logging.WARNING


@contextmanager
def echoed_by_command(*loggers: str) -> Iterator[None]:
    """While the block runs, drop WARNING records of ``loggers`` (their errors still pass):
    the command prints those warnings itself. Library use outside the block is unchanged."""
    drop = _DropWarnings()
    chosen = [logging.getLogger(name) for name in loggers]
    for logger in chosen:
        logger.addFilter(drop)
    try:
        yield
    finally:
        for logger in chosen:
            logger.removeFilter(drop)
