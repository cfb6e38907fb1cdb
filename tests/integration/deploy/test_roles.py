"""The image's worker roles started through deploy/entrypoint.sh outside a container.

``tracking`` and ``api`` are started by the fixtures (conftest.py). Here: ``stream`` on a real
redis-server, and ``lambda`` (awslambdaric) on the Kinesis records of a Lambda event, writing
to Kinesis on moto. The Lambda service itself cannot run here: a small stand-in of its Runtime
API (two routes, as documented by AWS) hands the event over and takes the answer.
"""

from __future__ import annotations

import base64
import json
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from loopback import free_port, running_server

from .conftest import (
    PROFILE,
    SERVER_KEYS,
    Team,
    entrypoint,
    role_env,
    toy_records,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _events(team: Team, count: int) -> list[dict[str, Any]]:
    events = []
    for i, record in enumerate(toy_records(team, rows=count)):
        features = {k: v for k, v in record.items() if k != "student_id"}
        student = record["student_id"]
        events.append({"event_id": f"e-{i}", "student_id": student, "features": features})
    return events


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import redis_local

    if redis_local.binary() is None:
        pytest.skip("redis-server binary not found (apt-get install redis-server)")
    with redis_local.redis_server(tmp_path_factory.mktemp("redis")) as (url, _):
        yield url


def test_stream_role_scores_events_from_redis(team: Team, redis_url: str, tmp_path: Path) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    events = _events(team, 5)
    for event in events:
        client.xadd("events", {"data": json.dumps(event)})
    client.xadd("events", {"data": "not json"})
    env = role_env(
        tmp_path,
        **team.client_env(),
        STUDENTOPS_SERVE_PROFILE=PROFILE,
        STREAM_SOURCE=f"{redis_url}/0/events",
        STREAM_SINK=f"{redis_url}/0/results",
    )
    with running_server(
        entrypoint("stream"), folder=tmp_path, ready=None, env=env, name="stream"
    ) as worker:
        deadline = time.monotonic() + 240
        while client.xlen("results") < len(events) or client.xlen("events-dead") < 1:
            assert time.monotonic() < deadline, worker.log_tail()
            time.sleep(0.5)
    results = [json.loads(f[b"data"]) for _, f in client.xrange("results")]
    assert sorted(r["event_id"] for r in results) == sorted(e["event_id"] for e in events)
    assert {r["model_version"] for r in results} == {team.version}
    dead = json.loads(client.xrange("events-dead")[0][1][b"data"])
    assert dead["reason"] == "not_json"


class _RuntimeApi(BaseHTTPRequestHandler):
    """GET /2018-06-01/runtime/invocation/next and POST .../{id}/response|error."""

    events: list[dict[str, Any]]
    answers: dict[str, Any]

    def do_GET(self) -> None:  # awslambdaric asks for the next event
        if not self.events:
            time.sleep(30)  # nothing more: a real Runtime API blocks as well
            self.send_error(500)
            return
        body = json.dumps(self.events.pop(0)).encode()
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", "req-1")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 300_000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:1:f")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.answers[self.path] = json.loads(self.rfile.read(length) or b"null")
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


def test_lambda_role_answers_a_kinesis_batch(team: Team, tmp_path: Path) -> None:
    import boto3

    pytest.importorskip("awslambdaric", reason="pip install awslambdaric (runtime dependency)")

    kinesis = boto3.client(
        "kinesis",
        endpoint_url=team.s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id=SERVER_KEYS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=SERVER_KEYS["AWS_SECRET_ACCESS_KEY"],
    )
    for name in ("lambda-results", "lambda-dead"):
        kinesis.create_stream(StreamName=name, ShardCount=1)
        kinesis.get_waiter("stream_exists").wait(StreamName=name)
    events = _events(team, 4)
    payloads = [base64.b64encode(json.dumps(e).encode()).decode() for e in events]
    payloads.append(base64.b64encode(b"{broken").decode())
    records = [
        {
            "eventID": f"shardId-000000000000:{100 + i}",
            "eventSourceARN": "arn:aws:kinesis:us-east-1:1:stream/events",
            "kinesis": {"sequenceNumber": str(100 + i), "data": data, "partitionKey": "p"},
        }
        for i, data in enumerate(payloads)
    ]
    handler = type("Api", (_RuntimeApi,), {"events": [{"Records": records}], "answers": {}})
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = role_env(
        tmp_path,
        **team.client_env(),
        **SERVER_KEYS,  # the function's role on AWS; moto accepts any key
        STUDENTOPS_SERVE_PROFILE=PROFILE,
        STUDENTOPS_STREAM_SINK="kinesis://lambda-results",
        STUDENTOPS_STREAM_DEAD_LETTER="kinesis://lambda-dead",
        STUDENTOPS_AWS_ENDPOINT_URL=team.s3_endpoint,
        STUDENTOPS_AWS_REGION="us-east-1",
        AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{port}",
    )
    try:
        with running_server(
            entrypoint("lambda"), folder=tmp_path, ready=None, env=env, name="lambda"
        ) as worker:
            deadline = time.monotonic() + 240
            while not handler.answers:
                assert time.monotonic() < deadline, worker.log_tail()
                time.sleep(0.5)
    finally:
        server.shutdown()
    assert handler.answers == {
        "/2018-06-01/runtime/invocation/req-1/response": {"batchItemFailures": []}
    }
    written = _read_stream(kinesis, "lambda-results")
    assert sorted(r["event_id"] for r in written) == sorted(e["event_id"] for e in events)
    assert [d["reason"] for d in _read_stream(kinesis, "lambda-dead")] == ["not_json"]


def _read_stream(kinesis: Any, name: str) -> list[dict[str, Any]]:
    shard = kinesis.list_shards(StreamName=name)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(
        StreamName=name, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return [json.loads(r["Data"]) for r in kinesis.get_records(ShardIterator=iterator)["Records"]]


def test_prefect_server_role_on_postgresql(team: Team, tmp_path: Path) -> None:
    """The Prefect server role on the topology's PostgreSQL, healthy by the image's check."""
    import subprocess

    from .conftest import ENTRYPOINT

    database = team.postgres.create_database("prefect").replace(
        "postgresql://", "postgresql+asyncpg://"
    )
    port = free_port()
    env = role_env(
        tmp_path,
        PREFECT_HOME=str(tmp_path / "prefect"),
        PREFECT_PORT=str(port),
        PREFECT_API_DATABASE_CONNECTION_URL=database,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    url = f"http://127.0.0.1:{port}/api/health"
    with running_server(
        entrypoint("prefect-server"),
        folder=tmp_path,
        ready=url,
        env=env,
        name="prefect-server",
        timeout_s=240,
    ):
        check = subprocess.run(
            [sys.executable, str(ENTRYPOINT.with_name("healthcheck.py"))],
            env={"STUDENTOPS_ROLE_FILE": str(tmp_path / "role"), "PREFECT_PORT": str(port)},
            check=False,
        )
        assert check.returncode == 0
