"""A worker process for the crash tests: the real ``run_stream`` with the tiny model.

Only the model differs from ``studentops stream`` (no registry needed); signals, batching,
backends and the prediction log are the product's. Settings come from the environment.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from pathlib import Path

from stream_model import build_predictor

from studentops.streaming.scoring import PredictorScorer
from studentops.streaming.service import run_stream, stop_on_signals


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", required=True)
    parser.add_argument("--sink", required=True)
    parser.add_argument("--consumer", required=True)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--max-wait-ms", type=int, default=20)
    parser.add_argument("--ready-file", type=Path, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    scorer = PredictorScorer(build_predictor())
    with stop_on_signals(threading.Event()) as stop:
        args.ready_file.touch()  # from here on SIGTERM means "finish the batch and stop"
        stats = run_stream(
            args.source,
            args.sink,
            consumer=args.consumer,
            batch_size=args.batch_size,
            max_wait_ms=args.max_wait_ms,
            scorer=lambda: scorer,
            stop=stop,
        )
    print(json.dumps(stats.as_dict()), flush=True)


if __name__ == "__main__":
    main()
