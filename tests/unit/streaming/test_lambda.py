"""The Lambda handler without AWS: record decoding, partial failures, a light import."""

from __future__ import annotations

import base64
import subprocess
import sys
from typing import Any

import orjson
import pytest

from studentops.errors import ConfigError
from studentops.streaming import lambda_handler
from studentops.streaming.lambda_handler import LambdaRuntime, kinesis_messages

from .fakes import FakeScorer, MemorySink, event


def kinesis_event(payloads: list[bytes | str]) -> dict[str, Any]:
    records = []
    for i, data in enumerate(payloads):
        encoded = data if isinstance(data, str) else base64.b64encode(data).decode()
        seq = str(49590338271490256608559692538361571095921575989136588898 + i * 10)
        records.append(
            {
                "kinesis": {"sequenceNumber": seq, "data": encoded, "partitionKey": "k"},
                "eventID": f"shardId-000000000006:{seq}",
                "eventSourceARN": "arn:aws:kinesis:eu-west-1:123456789012:stream/events",
            }
        )
    return {"Records": records}


def test_records_are_decoded_from_base64() -> None:
    messages = kinesis_messages(kinesis_event([b'{"a": 1}', "%%% not base64"]))
    assert messages[0].data == b'{"a": 1}'
    assert messages[0].partition == "shardId-000000000006"
    assert messages[1].data == b"%%% not base64"  # judged (and dead-lettered) as it came


def test_poison_goes_to_dead_letters_and_unwritten_results_are_reported() -> None:
    event_ = kinesis_event([event("a", x=0.1), b"junk", event("b", x=0.9), event("c", x=0.2)])
    sink, dead = MemorySink(refuse={"c"}), MemorySink()
    runtime = LambdaRuntime(FakeScorer, sink, dead)
    answer = runtime.handle(event_)
    seqs = [r["kinesis"]["sequenceNumber"] for r in event_["Records"]]
    assert answer == {"batchItemFailures": [{"itemIdentifier": seqs[3]}]}
    assert [r["event_id"] for r in sink.decoded()] == ["a", "b"]
    assert [d["reason"] for d in dead.decoded()] == ["not_json"]


def test_without_dead_letters_poison_is_reported_lowest_sequence_first() -> None:
    event_ = kinesis_event([event("a", x=0.1), b"junk", event("b", x="bad"), b"[]"])
    logged: list[Any] = []
    runtime = LambdaRuntime(FakeScorer, MemorySink(), None, on_scored=logged.append)
    answer = runtime.handle(event_)
    seqs = [r["kinesis"]["sequenceNumber"] for r in event_["Records"]]
    assert answer == {"batchItemFailures": [{"itemIdentifier": s} for s in seqs[1:]]}
    assert [e.event_id for batch in logged for e in batch.events] == ["a"]


def test_only_written_predictions_are_logged() -> None:
    logged: list[Any] = []
    runtime = LambdaRuntime(
        FakeScorer, MemorySink(refuse={"b"}), MemorySink(), on_scored=logged.append
    )
    runtime.handle(kinesis_event([event("a", x=0.1), event("b", x=0.2)]))
    assert [e.event_id for batch in logged for e in batch.events] == ["a"]


def test_an_empty_batch_is_a_success() -> None:
    assert LambdaRuntime(FakeScorer, MemorySink()).handle({"Records": []}) == {
        "batchItemFailures": []
    }


def test_the_runtime_needs_an_output_stream(home: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lambda_handler, "_RUNTIME", None)
    with pytest.raises(ConfigError, match="STUDENTOPS_STREAM_SINK"):
        lambda_handler.handler({"Records": []}, None)


def test_importing_the_handler_loads_no_model_and_no_client() -> None:
    code = (
        "import sys, studentops.streaming.lambda_handler as h; "
        "heavy = [m for m in ('boto3', 'redis', 'mlflow', 'lightgbm', 'sklearn', 'pandas') "
        "if m in sys.modules]; print(','.join(heavy)); assert callable(h.handler)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_results_decode_as_json() -> None:
    sink = MemorySink()
    LambdaRuntime(FakeScorer, sink).handle(kinesis_event([event("a", x=0.1)]))
    assert orjson.loads(sink.records[0].data)["event_id"] == "a"
