"""The `studentops` command line: a thin Typer layer over the parts' plain functions.

Each part registers its commands from ``studentops/<part>/commands.py`` (a ``register(app)``
function), so this module stays small and imports nothing heavy until a command runs. A user's
error (StudentOpsError) prints one line on stderr and exits non-zero; never a traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import sys
from typing import NoReturn

import typer

from studentops.errors import StudentOpsError

PARTS = (
    "datasets",
    "training",
    "registry",
    "serving",
    "streaming",
    "monitoring",
    "events",
    "training.early_warning",
    "monitoring.alerts",
    "monitoring.retraining",
    "privacy",
    "ui",
    "deploy",
    "flows",
)

app = typer.Typer(
    name="studentops",
    help="Predict student outcomes and act on them, end to end and in production.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register_parts() -> None:
    for part in PARTS:
        name = f"studentops.{part}.commands"
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:  # the part's package itself is not there yet
            found = False
        if found:
            importlib.import_module(name).register(app)


@app.command("demo")
def demo(
    rows: int = typer.Option(5000, min=200, help="Students in the training cohort."),
    time_budget: float = typer.Option(30.0, min=5, help="Training budget, seconds."),
) -> None:
    """Run the main job end to end on embedded defaults (no servers needed)."""
    from studentops.config import load_settings
    from studentops.demo import run_demo

    run_demo(load_settings(), rows=rows, budget_s=time_budget)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning user errors into one line and exit code 2.

    Args:
        argv: the arguments; None reads the process's own command line, and the process then
            ends without the interpreter's teardown (:func:`end_process`).

    Raises:
        SystemExit: always, with the command's exit code (0, 2 for a user's error, 130 when
            interrupted), when ``argv`` is given (tests, a caller's process).
    """
    code = _run(argv)
    if argv is None:
        end_process(code)
    sys.exit(code)


def end_process(code: int) -> NoReturn:
    """End this process with ``code`` once the command is over, skipping the interpreter's
    teardown of the loaded libraries.

    After a ``train`` on the shared 2-core machine the interpreter's finalisation (freeing
    every module of pandas, scikit-learn, MLflow, LightGBM, ...) took 2.2 s between the
    command's last line and the process's end (load average 3.6), inside the user's time
    budget. The command's output is flushed and the ``atexit`` handlers run (logging's
    flush, weakref finalizers such as temporary folders, the libraries' own), then
    :func:`os._exit` ends the process. While a non-daemon thread is still alive the
    interpreter's normal exit (which joins it) is used instead.
    """
    import atexit
    import contextlib
    import threading

    main_thread = threading.main_thread()
    if any(t.is_alive() and not t.daemon and t is not main_thread for t in threading.enumerate()):
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing to write to
            stream.flush()
    os._exit(code)


def _run(argv: list[str] | None) -> int:
    """The CLI's work: the exit code of the command or of the user's error."""
    logging.basicConfig(
        level=os.environ.get("STUDENTOPS_LOG_LEVEL", "WARNING"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from typer._click import exceptions as usage  # Typer bundles its own Click

    _register_parts()
    try:
        # Not standalone: a usage error (a bad option value) is ours to print, as one line
        # rather than Typer's boxed panel.
        code = app(args=argv, standalone_mode=False)
        return code if isinstance(code, int) else 0  # as standalone Click: always exit
    except usage.NoArgsIsHelpError as exc:  # the help is printed already
        return exc.exit_code
    except usage.ClickException as exc:
        ctx = getattr(exc, "ctx", None)
        command = ctx.command_path if ctx is not None else "studentops"
        typer.echo(f"error: {exc.format_message()} (see '{command} --help')", err=True)
        return exc.exit_code
    except typer.Abort:
        typer.echo("interrupted", err=True)
        return 130
    except StudentOpsError as exc:
        typer.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except SystemExit as exc:  # a command that exits itself (typer.Exit is a return code)
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        typer.echo(str(exc.code), err=True)  # sys.exit("message"), as Python prints it
        return 1
