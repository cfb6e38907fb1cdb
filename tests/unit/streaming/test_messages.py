"""Event parsing and the result and dead-letter records."""

from __future__ import annotations

import base64

import orjson
import pytest

from studentops.streaming.backends.base import Message
from studentops.streaming.messages import (
    MAX_EVENT_BYTES,
    Event,
    Rejection,
    decode_record,
    encode_dead_letter,
    encode_result,
    parse_event,
    utc_now_text,
)


def test_a_well_formed_event_parses() -> None:
    data = orjson.dumps({"event_id": 7, "student_id": "s1", "features": {"a": 1}, "extra": True})
    assert parse_event(data) == Event(7, "s1", {"a": 1})


@pytest.mark.parametrize(
    ("data", "reason", "event_id"),
    [
        (None, "missing_payload", None),
        (b"{nope", "not_json", None),
        (b"", "not_json", None),
        (b"[1]", "not_an_object", None),
        (b'"text"', "not_an_object", None),
        (b'{"student_id": "s", "features": {}}', "missing_field", None),
        (b'{"event_id": "e", "features": {}}', "missing_field", "e"),
        (b'{"event_id": "e", "student_id": "s"}', "missing_field", "e"),
        (b'{"event_id": "e", "student_id": null, "features": {}}', "missing_field", "e"),
        (b'{"event_id": true, "student_id": "s", "features": {}}', "bad_field", None),
        (b'{"event_id": "", "student_id": "s", "features": {}}', "bad_field", None),
        (b'{"event_id": "e", "student_id": [1], "features": {}}', "bad_field", "e"),
        (b'{"event_id": "e", "student_id": "s", "features": [1, 2]}', "bad_field", "e"),
    ],
)
def test_poison_is_named(data: bytes | None, reason: str, event_id: str | None) -> None:
    parsed = parse_event(data)
    assert isinstance(parsed, Rejection)
    assert parsed.reason == reason
    assert parsed.event_id == event_id
    assert parsed.detail


def test_oversized_events_are_refused_before_parsing() -> None:
    parsed = parse_event(b" " * (MAX_EVENT_BYTES + 1))
    assert isinstance(parsed, Rejection) and parsed.reason == "too_large"


def test_result_record_carries_the_event_id_and_keys_by_student() -> None:
    output = {
        "prediction": "Dropout",
        "probabilities": {"Dropout": 0.7, "Not dropout": 0.3},
        "risk": {"score": 0.7, "band": "high"},
        "model_version": "3",
        "ignored": 1,
    }
    record = encode_result(Event("e1", 42, {"a": 1}), output, "2025-01-01T00:00:00.000Z")
    assert record.key == "42" and record.event_id == "e1"
    assert decode_record(record.data) == {
        "event_id": "e1",
        "student_id": 42,
        "prediction": "Dropout",
        "probabilities": {"Dropout": 0.7, "Not dropout": 0.3},
        "risk": {"score": 0.7, "band": "high"},
        "model_version": "3",
        "scored_at": "2025-01-01T00:00:00.000Z",
    }


@pytest.mark.parametrize(
    ("message", "payload", "encoding"),
    [
        (Message("1-0", b'{"a": "\xc3\xa9"}'), '{"a": "é"}', "utf-8"),
        (Message("1-0", b"\xff\x00"), base64.b64encode(b"\xff\x00").decode(), "base64"),
        (Message("1-0", None, fields={"other": "x"}), {"other": "x"}, "fields"),
    ],
)
def test_dead_letter_keeps_the_original_payload(
    message: Message, payload: object, encoding: str
) -> None:
    record = encode_dead_letter(message, Rejection("not_json", "bad", None), "redis://x/s", "now")
    body = decode_record(record.data)
    assert body["payload"] == payload and body["payload_encoding"] == encoding
    assert body["reason"] == "not_json" and body["source"] == "redis://x/s"
    assert body["message_id"] == "1-0" and body["event_id"] is None


def test_timestamps_are_utc_with_milliseconds() -> None:
    assert utc_now_text(0.5) == "1970-01-01T00:00:00.500Z"
