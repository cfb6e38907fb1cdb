"""What the worker needs from a transport: a source it reads and acknowledges, sinks it writes.

The worker never sees Redis or Kinesis. A source hands out :class:`Message` objects and is told
which ones are done (``ack``) only after their results were written, which is what makes the
pipeline at-least-once. A sink writes whole batches and raises :class:`SinkError` when it could
not write all of them, so nothing is acknowledged that was not written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import parse_qs

from studentops.errors import StudentOpsError


class StreamURLError(StudentOpsError):
    """A stream URL the worker cannot use (unknown scheme, no stream name, bad option)."""


class SinkError(Exception):
    """Some records could not be written; the batch must not be acknowledged."""

    def __init__(self, message: str, failed: Sequence[int] = ()) -> None:
        super().__init__(message)
        self.failed = list(failed)


@dataclass(slots=True)
class Message:
    """One entry read from a source.

    Attributes:
        id: the entry's position (Redis entry id, Kinesis sequence number); unique per partition.
        data: the payload bytes; None when the entry had no payload field.
        partition: Kinesis shard id ("" for Redis).
        deliveries: how often the entry was handed out (1 unless it was claimed or replayed).
        fields: the raw entry when it had no payload field, kept for the dead-letter record.
    """

    id: str
    data: bytes | None
    partition: str = ""
    deliveries: int = 1
    fields: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class OutRecord:
    """One record to write: ``key`` routes it (Kinesis partition key), ``data`` is the JSON."""

    key: str
    data: bytes
    event_id: str = ""


class Source(Protocol):
    """A stream of events shared by a group of workers."""

    url: str

    def read(self, max_count: int, timeout_ms: int) -> list[Message]:
        """Up to ``max_count`` messages, waiting at most ``timeout_ms`` for the first one."""
        ...

    def ack(self, messages: Sequence[Message]) -> None:
        """Mark messages done: they will not be delivered again (results are written)."""
        ...

    def rewind(self) -> None:
        """Forget reads not acknowledged yet, so they are delivered again (after an error)."""
        ...

    def close(self) -> None:
        """Release the connection and any local lock; unacknowledged reads stay pending."""
        ...


class Sink(Protocol):
    """A stream that receives results or dead letters."""

    url: str

    def write(self, records: Sequence[OutRecord]) -> None:
        """Write every record, or raise SinkError (some may be written: at least once)."""
        ...

    def write_some(self, records: Sequence[OutRecord]) -> list[int]:
        """Write what can be written; returns positions of records that failed (Lambda)."""
        ...

    def close(self) -> None:
        """Release the connection (every write has returned by then)."""
        ...


def query_options(query: str, allowed: set[str], url: str) -> dict[str, str]:
    """Parse ``?a=1&b=2`` into a dict, refusing options the backend does not know.

    Raises:
        StreamURLError: the query names an option not in ``allowed``.
    """
    options = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    unknown = sorted(set(options) - allowed)
    if unknown:
        known = ", ".join(sorted(allowed)) or "none"
        raise StreamURLError(f"{url}: unknown option(s) {', '.join(unknown)} (known: {known})")
    return options


def int_option(options: dict[str, str], name: str, url: str, default: int | None) -> int | None:
    """An integer option, or a StreamURLError that names it.

    Raises:
        StreamURLError: the option is not a whole number >= 0.
    """
    raw = options.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise StreamURLError(f"{url}: option {name} must be a whole number, got {raw!r}") from None
    if value < 0:
        raise StreamURLError(f"{url}: option {name} must be >= 0, got {value}")
    return value
