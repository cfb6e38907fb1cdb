"""The messages on the streams: events in, results and dead letters out.

An event is one JSON object ``{"event_id", "student_id", "features": {...}}`` (other top-level
keys are ignored). A result carries the event id back so that consumers can drop duplicates,
which at-least-once delivery produces after a crash. An event that can never be scored (not
JSON, fields missing, features that break the profile) becomes a dead letter: the reason, a
detail a person can act on, and the original payload, so it can be fixed and replayed.

All functions here are pure; the worker and the Lambda handler share them.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from typing import Any

import orjson

from studentops.json_values import dump_json
from studentops.streaming.backends.base import Message, OutRecord

MAX_EVENT_BYTES = 1_000_000  # the Kinesis record limit; larger events are refused everywhere

# Dead-letter reasons (stable strings: dashboards and replay tools match on them).
MISSING_PAYLOAD = "missing_payload"
TOO_LARGE = "too_large"
NOT_JSON = "not_json"
NOT_AN_OBJECT = "not_an_object"
MISSING_FIELD = "missing_field"
BAD_FIELD = "bad_field"
INVALID_FEATURES = "invalid_features"
SCORING_FAILED = "scoring_failed"
TOO_MANY_DELIVERIES = "too_many_deliveries"
REASONS = (
    MISSING_PAYLOAD,
    TOO_LARGE,
    NOT_JSON,
    NOT_AN_OBJECT,
    MISSING_FIELD,
    BAD_FIELD,
    INVALID_FEATURES,
    SCORING_FAILED,
    TOO_MANY_DELIVERIES,
)

_REQUIRED = ("event_id", "student_id", "features")


@dataclass(frozen=True, slots=True)
class Event:
    """A well-formed event (its features are not yet checked against the profile)."""

    event_id: str | int
    student_id: str | int
    features: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why an event cannot be scored; ``detail`` names the field and the problem."""

    reason: str
    detail: str
    event_id: str | int | None = None


def _is_id(value: Any) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool) and value != ""


def parse_event(data: bytes | None) -> Event | Rejection:
    """Parse one payload into an Event, or say why it is poison."""
    if data is None:
        return Rejection(MISSING_PAYLOAD, "the entry has no 'data' field")
    if len(data) > MAX_EVENT_BYTES:
        return Rejection(TOO_LARGE, f"{len(data)} bytes (limit {MAX_EVENT_BYTES})")
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        return Rejection(NOT_JSON, str(exc).splitlines()[0][:200])
    if not isinstance(obj, dict):
        return Rejection(NOT_AN_OBJECT, f"expected a JSON object, got {type(obj).__name__}")
    event_id = obj.get("event_id")
    known_id = event_id if _is_id(event_id) else None
    missing = [key for key in _REQUIRED if obj.get(key) is None]
    if missing:
        return Rejection(MISSING_FIELD, f"missing: {', '.join(missing)}", known_id)
    if known_id is None:
        return Rejection(BAD_FIELD, "event_id must be a non-empty string or an integer")
    if not _is_id(obj["student_id"]):
        return Rejection(BAD_FIELD, "student_id must be a non-empty string or an integer", known_id)
    if not isinstance(obj["features"], dict):
        return Rejection(BAD_FIELD, "features must be a JSON object", known_id)
    return Event(known_id, obj["student_id"], obj["features"])


def utc_now_text(now: float) -> str:
    """ISO 8601 UTC with milliseconds and a Z, the timestamp form of every output record."""
    stamp = dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def encode_result(event: Event, output: dict[str, Any], scored_at: str) -> OutRecord:
    """The result record of one scored event (partition key: the student, to keep order)."""
    body = {
        "event_id": event.event_id,
        "student_id": event.student_id,
        "prediction": output["prediction"],
        "probabilities": output["probabilities"],
        "risk": output["risk"],
        "model_version": output["model_version"],
        "scored_at": scored_at,
    }
    data = dump_json(body)
    return OutRecord(str(event.student_id), data, str(event.event_id))


def _payload_text(message: Message) -> tuple[Any, str]:
    if message.data is None:
        return message.fields or {}, "fields"
    try:
        return message.data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(message.data).decode("ascii"), "base64"


def encode_dead_letter(
    message: Message, rejection: Rejection, source: str, failed_at: str
) -> OutRecord:
    """The dead-letter record: reason, detail, where it came from and the original payload."""
    payload, encoding = _payload_text(message)
    body = {
        "reason": rejection.reason,
        "detail": rejection.detail,
        "event_id": rejection.event_id,
        "source": source,
        "message_id": message.id,
        "partition": message.partition or None,
        "deliveries": message.deliveries,
        "failed_at": failed_at,
        "payload": payload,
        "payload_encoding": encoding,
    }
    key = message.id if not message.partition else f"{message.partition}:{message.id}"
    event_id = "" if rejection.event_id is None else str(rejection.event_id)
    return OutRecord(key, dump_json(body), event_id)


def decode_record(data: bytes | str) -> dict[str, Any]:
    """Read back a result or dead-letter record (consumers and tests).

    Raises:
        ValueError: ``data`` is not a studentops result or dead-letter record.
    """
    out = orjson.loads(data)
    if not isinstance(out, dict):
        raise ValueError("not a studentops stream record")
    return out
