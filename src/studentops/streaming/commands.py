"""CLI command of the streaming part: ``studentops stream``."""

from __future__ import annotations

import json
import threading
from typing import Annotated

import typer

from studentops.config import load_settings


def stream_cmd(
    source: Annotated[
        str,
        typer.Option(
            "--source", help="Events to score: redis://host:port/db/stream or kinesis://stream."
        ),
    ],
    sink: Annotated[str, typer.Option("--sink", help="Where results go (same URL forms).")],
    dead_letter: Annotated[
        str | None,
        typer.Option("--dead-letter", help="Poison events (default: the source stream + '-dead')."),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile", "-p", help="Follow this profile's champion (default: serve_profile)."
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", help="Pin a model URI (models:/name/3) instead of the champion."),
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", min=1, help="Most events per batch.")
    ] = None,
    max_wait_ms: Annotated[
        int | None,
        typer.Option("--max-wait-ms", min=0, help="Longest an event waits for its batch to fill."),
    ] = None,
    consumer: Annotated[
        str | None,
        typer.Option("--consumer", help="Name in the Redis consumer group (default: host-pid)."),
    ] = None,
) -> None:
    """Score a stream of events until SIGTERM or Ctrl-C (which finish the current batch)."""
    from studentops.streaming.service import run_stream, stop_on_signals

    settings = load_settings()
    with stop_on_signals(threading.Event()) as stop:
        stats = run_stream(
            source,
            sink,
            settings=settings,
            dead_letter_url=dead_letter,
            profile=profile,
            model_uri=model,
            batch_size=batch_size,
            max_wait_ms=max_wait_ms,
            consumer=consumer,
            stop=stop,
        )
    typer.echo(json.dumps(stats.as_dict()))


def register(app: typer.Typer) -> None:
    """Add the ``stream`` command to the CLI app."""
    app.command("stream")(stream_cmd)
