"""Real servers on loopback for the streaming tests: redis-server and moto (Kinesis).

Both start once per session on free ports, keep nothing on disk and are stopped afterwards.
Redis tests skip with a clear reason when the ``redis-server`` binary is absent (CI installs
it: ``.ci/run``); moto runs in-process (its threaded server mode).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis_local
from loopback import moto_in_thread


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``redis://127.0.0.1:<port>`` of a throw-away redis-server (no persistence)."""
    if redis_local.binary() is None:
        pytest.skip("redis-server binary not found (apt-get install redis-server)")
    with redis_local.redis_server(tmp_path_factory.mktemp("redis")) as (url, _):
        yield url


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    """The server with an empty database 0 for one test."""
    client = redis.Redis.from_url(redis_server)
    client.flushall()
    yield redis_server
    client.close()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """``http://127.0.0.1:<port>`` of moto's server mode (Kinesis), fake credentials."""
    with moto_in_thread() as url:
        yield url


@pytest.fixture
def kinesis(moto_endpoint: str) -> Any:
    """A boto3 Kinesis client on moto, with every stream deleted after the test."""
    import boto3

    client = boto3.client("kinesis", endpoint_url=moto_endpoint, region_name="us-east-1")
    yield client
    for name in client.list_streams().get("StreamNames", []):
        client.delete_stream(StreamName=name, EnforceConsumerDeletion=True)


@pytest.fixture(scope="session")
def predictor() -> Any:
    """The serving Predictor over the tiny LightGBM model."""
    from stream_model import build_predictor

    return build_predictor()


@pytest.fixture
def stream_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Settings for one test (state under tmp), also for worker subprocesses."""
    env = {
        "STUDENTOPS_HOME": str(tmp_path / "state"),
        "STUDENTOPS_CONFIG": str(tmp_path / "none.yaml"),
        "STUDENTOPS_STREAM_CLAIM_IDLE_MS": "1000",
        "STUDENTOPS_AWS_REGION": "us-east-1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env
