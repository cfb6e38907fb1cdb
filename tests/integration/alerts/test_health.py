"""Service-health observations: the prediction log's last row, the champion's age, and rows
dropped according to the API's Prometheus counter (served here by a local HTTP server)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from studentops.config import load_settings
from studentops.monitoring.alerts.engine import raise_alerts
from studentops.monitoring.alerts.observations import health_observations
from studentops.monitoring.predlog import LogRow, PredictionLog

PROFILE = "uci-dropout-binary"


@pytest.fixture
def metrics_server() -> Any:
    """Serves ``state["text"]`` as Prometheus text at /metrics."""
    state = {"text": ""}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = state["text"].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/metrics", state
    server.shutdown()
    server.server_close()


def _counter(queue_full: int, write_error: int) -> str:
    return (
        "# HELP studentops_prediction_log_dropped_total Prediction log records dropped.\n"
        "# TYPE studentops_prediction_log_dropped_total counter\n"
        f'studentops_prediction_log_dropped_total{{reason="queue_full"}} {queue_full}.0\n'
        f'studentops_prediction_log_dropped_total{{reason="write_error"}} {write_error}.0\n'
    )


def test_silence_and_dropped_rows_fire_their_rules(
    tmp_path: Path, metrics_server: Any, mlflow_ready: Callable[[Path], Path]
) -> None:
    url, state = metrics_server
    settings = load_settings(
        config_file=tmp_path / "none.yaml",
        home=mlflow_ready(tmp_path / "home"),  # an empty registry, made once per session
        alert_metrics_url=url,
        alert_file=tmp_path / "alerts.jsonl",
    )
    settings.ensure_home()
    now = datetime.now(UTC)
    with PredictionLog(settings.prediction_log, settings.pseudonym_key) as log:
        ts = (now - timedelta(hours=50)).timestamp()
        log.submit([LogRow(ts, "s1", {}, "Dropout", 0.9, "high", {}, "m", "1", 1.0, PROFILE)])
        assert log.flush()

    state["text"] = _counter(3, 1)
    obs = {o.kind: o.value for o in health_observations(settings, PROFILE, now)}
    assert obs["no_predictions_hours"] == pytest.approx(50, abs=0.01)
    assert obs["prediction_log_dropped"] == 4  # first look: everything counted so far
    assert "champion_age_days" not in obs  # no model registered: nothing to age

    state["text"] = _counter(3, 1)
    later = now + timedelta(minutes=5)
    assert {o.kind: o.value for o in health_observations(settings, PROFILE, later)}[
        "prediction_log_dropped"
    ] == 0  # nothing new since the last look
    run = raise_alerts(settings, PROFILE, health_observations(settings, PROFILE, later))
    run.wait(10)
    assert [t.evaluation.rule.name for t in run.transitions] == ["no-predictions"]

    state["text"] = _counter(10, 1)
    run = raise_alerts(settings, PROFILE, health_observations(settings, PROFILE, later))
    run.wait(10)
    (fired,) = run.transitions
    assert fired.evaluation.rule.name == "prediction-log-dropped"
    assert fired.evaluation.observation.value == 7
    assert "7 rows vs threshold 0 rows" in fired.message.amount
    lines = (tmp_path / "alerts.jsonl").read_text().splitlines()
    assert len(lines) == 2
