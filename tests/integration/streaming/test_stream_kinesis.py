"""Kinesis through moto's server on loopback: the worker with checkpoints, and the Lambda."""

from __future__ import annotations

import base64
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from stream_model import event_payloads

from studentops.config import load_settings
from studentops.monitoring.predlog import read_predictions
from studentops.streaming import lambda_handler
from studentops.streaming.backends.base import OutRecord
from studentops.streaming.backends.checkpoints import CheckpointLocked
from studentops.streaming.backends.kinesis import KinesisSink, KinesisSource
from studentops.streaming.scoring import PredictorScorer
from studentops.streaming.service import run_stream
from studentops.streaming.worker import Worker

pytestmark = pytest.mark.integration

SOURCE = "kinesis://events?poll_ms=20"


@pytest.fixture
def aws_env(moto_endpoint: str, stream_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("STUDENTOPS_AWS_ENDPOINT_URL", moto_endpoint)
    return moto_endpoint


def create(kinesis: Any, name: str, shards: int = 1) -> None:
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.1})


def put(kinesis: Any, stream: str, payloads: list[bytes]) -> None:
    for i in range(0, len(payloads), 500):
        chunk = payloads[i : i + 500]
        entries = [{"Data": d, "PartitionKey": str(hash(d) % 997)} for d in chunk]
        assert kinesis.put_records(StreamName=stream, Records=entries)["FailedRecordCount"] == 0


def read_all(kinesis: Any, stream: str) -> list[dict[str, Any]]:
    """Every record of every shard, as raw Kinesis records."""
    out = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            reply = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            out.extend(reply["Records"])
            if not reply["Records"]:
                break
            iterator = reply.get("NextShardIterator")
    return out


def decoded(kinesis: Any, stream: str) -> list[dict[str, Any]]:
    return [orjson.loads(r["Data"]) for r in read_all(kinesis, stream)]


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def run_until(scorer: Any, check: Callable[[], bool], what: str) -> None:
    """Run the real run_stream in a thread until ``check`` holds, then stop it cleanly."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            run_stream(SOURCE, "kinesis://results", scorer=lambda: scorer, stop=stop)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    try:
        wait_for(lambda: check() or bool(errors), 60, what)
    finally:
        stop.set()
        thread.join(15)
    assert not errors, errors
    assert not thread.is_alive()


def test_worker_scores_kinesis_and_resumes_from_checkpoints(
    kinesis: Any, aws_env: str, predictor: Any, tmp_path: Path
) -> None:
    for name, shards in (("events", 2), ("results", 1), ("events-dead", 1)):
        create(kinesis, name, shards)
    scorer = PredictorScorer(predictor)
    sent = event_payloads(700)
    put(kinesis, "events", [d for _, d in sent[:300]] + [b"not json", b'{"event_id": "x"}'])

    def first_done() -> bool:
        scored, dead = read_all(kinesis, "results"), read_all(kinesis, "events-dead")
        return len(scored) >= 300 and len(dead) >= 2

    run_until(scorer, first_done, "the first 300 results")
    dead = decoded(kinesis, "events-dead")
    assert sorted(d["reason"] for d in dead) == ["missing_field", "not_json"]
    assert all(d["partition"].startswith("shardId-") for d in dead)
    settings = load_settings()
    checkpoints = settings.home / "stream-checkpoints.db"
    assert checkpoints.is_file()

    # A clean stop checkpointed everything: a new worker scores only what came since.
    put(kinesis, "events", [d for _, d in sent[300:500]])
    run_until(scorer, lambda: len(read_all(kinesis, "results")) >= 500, "results 300..500")
    counts = Counter(r["event_id"] for r in decoded(kinesis, "results"))
    assert set(counts) == {e for e, _ in sent[:500]} and max(counts.values()) == 1

    # A "crash": results written, checkpoint never taken. The next worker reads them again.
    put(kinesis, "events", [d for _, d in sent[500:]])
    source = KinesisSource(
        SOURCE, "studentops", checkpoints, endpoint_url=aws_env, region="us-east-1"
    )
    with pytest.raises(CheckpointLocked):  # one reader per stream and group on a host
        KinesisSource(SOURCE, "studentops", checkpoints, endpoint_url=aws_env, region="us-east-1")
    source.ack = lambda messages: None
    sink = KinesisSink("kinesis://results", endpoint_url=aws_env, region="us-east-1")
    crashed = Worker(source, sink, sink, lambda: scorer, batch_size=1_000, max_wait_ms=300)
    crashed.process(crashed.collect(threading.Event()))
    source.close()
    written_before_crash = crashed.stats.results
    assert written_before_crash > 0

    expected = 700 + written_before_crash
    run_until(scorer, lambda: len(read_all(kinesis, "results")) >= expected, "the replay")
    counts = Counter(r["event_id"] for r in decoded(kinesis, "results"))
    assert set(counts) == {e for e, _ in sent}  # nothing lost
    assert sum(counts.values()) - len(counts) == written_before_crash  # replays, de-duplicable


# -- Lambda ------------------------------------------------------------------------------------


def lambda_event(kinesis: Any, stream: str) -> dict[str, Any]:
    """The Kinesis event Lambda would deliver for every record of ``stream`` (base64 data)."""
    records = []
    shard_id = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    for r in read_all(kinesis, stream):
        records.append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": r["PartitionKey"],
                    "sequenceNumber": r["SequenceNumber"],
                    "data": base64.b64encode(r["Data"]).decode("ascii"),
                    "approximateArrivalTimestamp": r["ApproximateArrivalTimestamp"].timestamp(),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{shard_id}:{r['SequenceNumber']}",
                "eventName": "aws:kinesis:record",
                "awsRegion": "us-east-1",
                "eventSourceARN": f"arn:aws:kinesis:us-east-1:123456789012:stream/{stream}",
            }
        )
    return {"Records": records}


@pytest.fixture
def lambda_setup(
    kinesis: Any, aws_env: str, predictor: Any, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """Streams in moto, settings in the environment, the model loader pointed at the tiny model."""
    for name in ("events", "results", "dead"):
        create(kinesis, name)
    good = event_payloads(40, prefix="g")
    bad_course = {**orjson.loads(good[0][1])["features"], "Course": 7}
    bad = [
        b"\xff\xfe binary",
        b'{"event_id": "b-nofeat", "student_id": "s"}',
        orjson.dumps({"event_id": "b-cat", "student_id": "s", "features": bad_course}),
    ]
    put(kinesis, "events", [d for _, d in good[:20]] + bad + [d for _, d in good[20:]])
    scorer = PredictorScorer(predictor)
    monkeypatch.setenv("STUDENTOPS_STREAM_SINK", "kinesis://results")
    loader = lambda settings: (lambda: scorer, lambda: None)  # noqa: E731
    monkeypatch.setattr(lambda_handler, "load_model_scorer", loader)
    monkeypatch.setattr(lambda_handler, "_RUNTIME", None)
    event = lambda_event(kinesis, "events")
    by_event_id = {}
    for record in event["Records"]:
        try:
            by_event_id[orjson.loads(base64.b64decode(record["kinesis"]["data"]))["event_id"]] = (
                record["kinesis"]["sequenceNumber"]
            )
        except (orjson.JSONDecodeError, KeyError):
            by_event_id["binary"] = record["kinesis"]["sequenceNumber"]
    return {"event": event, "good": good, "seq": by_event_id}


def test_lambda_dead_letters_poison_and_reports_no_failures(
    kinesis: Any, lambda_setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STUDENTOPS_STREAM_DEAD_LETTER", "kinesis://dead")
    answer = lambda_handler.handler(lambda_setup["event"], None)
    assert answer == {"batchItemFailures": []}
    results = decoded(kinesis, "results")
    assert sorted(r["event_id"] for r in results) == sorted(e for e, _ in lambda_setup["good"])
    assert all(r["model_version"] == "1" and r["risk"]["band"] for r in results)
    dead = decoded(kinesis, "dead")
    assert sorted(d["reason"] for d in dead) == ["invalid_features", "missing_field", "not_json"]
    binary = next(d for d in dead if d["reason"] == "not_json")
    assert binary["payload_encoding"] == "base64"
    assert base64.b64decode(binary["payload"]) == b"\xff\xfe binary"
    # The container is reused: a second invocation does not build a new runtime.
    runtime = lambda_handler._RUNTIME
    assert lambda_handler.handler({"Records": []}, None) == {"batchItemFailures": []}
    assert lambda_handler._RUNTIME is runtime
    logged = read_predictions(load_settings().prediction_log)
    assert len(logged) == 40 and set(logged["source"]) == {"stream"}


def test_lambda_reports_poison_and_unwritten_records_as_batch_item_failures(
    kinesis: Any, lambda_setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No dead-letter stream: poison is reported (AWS retries, then its on-failure
    destination). A result Kinesis refuses is reported too; everything else is written."""
    seq = lambda_setup["seq"]
    refused = "g5"
    real_put = KinesisSink._put

    def put_refusing(self: KinesisSink, records: Any, positions: list[int]) -> list[int]:
        failed = real_put(self, records, [i for i in positions if records[i].event_id != refused])
        return failed + [i for i in positions if records[i].event_id == refused]

    monkeypatch.setattr(KinesisSink, "_put", put_refusing)
    answer = lambda_handler.handler(lambda_setup["event"], None)
    expected = sorted([seq["binary"], seq["b-nofeat"], seq["b-cat"], seq[refused]], key=int)
    assert answer == {"batchItemFailures": [{"itemIdentifier": s} for s in expected]}
    written = {r["event_id"] for r in decoded(kinesis, "results")}
    assert written == {e for e, _ in lambda_setup["good"]} - {refused}
    assert read_all(kinesis, "dead") == []


def test_kinesis_sink_reports_what_a_missing_stream_refused(kinesis: Any, aws_env: str) -> None:
    sink = KinesisSink("kinesis://nowhere", endpoint_url=aws_env, region="us-east-1")
    started = time.monotonic()
    assert sink.write_some([OutRecord("k", b"{}"), OutRecord("k", b"{}")]) == [0, 1]
    assert time.monotonic() - started < 5  # not retried: a missing stream does not come back
