"""In-memory transports and scorers: the worker's contract without servers or models."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from studentops.streaming.backends.base import Message, OutRecord, SinkError


def event(event_id: str, **features: Any) -> bytes:
    return orjson.dumps({"event_id": event_id, "student_id": f"s-{event_id}", "features": features})


class MemorySource:
    """A queue with a pending list: read moves messages to pending, ack removes them."""

    url = "memory://events"

    def __init__(self, payloads: Sequence[bytes | None] = ()) -> None:
        self.queue = [Message(str(i), p) for i, p in enumerate(payloads)]
        self.pending: dict[str, Message] = {}
        self.acked: list[str] = []
        self.reads: list[tuple[int, int]] = []
        self.rewinds = 0

    def add(self, *payloads: bytes) -> None:
        start = len(self.queue) + len(self.pending) + len(self.acked)
        self.queue.extend(Message(str(start + i), p) for i, p in enumerate(payloads))

    def read(self, max_count: int, timeout_ms: int) -> list[Message]:
        self.reads.append((max_count, timeout_ms))
        batch, self.queue = self.queue[:max_count], self.queue[max_count:]
        for m in batch:
            self.pending[m.id] = m
        return batch

    def ack(self, messages: Sequence[Message]) -> None:
        for m in messages:
            self.pending.pop(m.id)
            self.acked.append(m.id)

    def rewind(self) -> None:
        self.rewinds += 1
        replay = list(self.pending.values())
        for m in replay:
            m.deliveries += 1
        self.queue = replay + self.queue
        self.pending.clear()

    def close(self) -> None:
        pass


class MemorySink:
    url = "memory://out"

    def __init__(self, fail_times: int = 0, refuse: set[str] | None = None) -> None:
        self.records: list[OutRecord] = []
        self.fail_times = fail_times
        self.refuse = refuse or set()

    def write(self, records: Sequence[OutRecord]) -> None:
        if self.fail_times:
            self.fail_times -= 1
            raise SinkError("down", range(len(records)))
        self.records.extend(records)

    def write_some(self, records: Sequence[OutRecord]) -> list[int]:
        failed = [i for i, r in enumerate(records) if r.event_id in self.refuse]
        self.records.extend(r for r in records if r.event_id not in self.refuse)
        return failed

    def decoded(self) -> list[dict[str, Any]]:
        return [orjson.loads(r.data) for r in self.records]

    def close(self) -> None:
        pass


class FakeScorer:
    """Scores ``x`` (a number) as risk x; ``x`` missing or not a number is invalid;
    ``x == 13`` passes validation but breaks scoring (a model bug for one record)."""

    name = "fake"
    profile = "fake-profile"

    def __init__(self, version: str = "1") -> None:
        self.version = version
        self.batches: list[int] = []

    def validate_record(self, record: dict[str, Any]) -> str | None:
        x = record.get("x")
        if not isinstance(x, int | float) or isinstance(x, bool):
            return "x: wrong type (expected number)"
        return None

    def score_batch(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.batches.append(len(records))
        for r in records:
            if self.validate_record(r):
                raise ValueError("invalid record")
            if r["x"] == 13:
                raise ArithmeticError("unlucky")
        return [
            {
                "prediction": "at risk" if r["x"] >= 0.5 else "fine",
                "probabilities": {"fine": 1 - r["x"], "at risk": r["x"]},
                "risk": {"score": r["x"], "band": "high" if r["x"] >= 0.6 else "low"},
                "model_version": self.version,
            }
            for r in records
        ]
