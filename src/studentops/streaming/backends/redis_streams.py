"""Redis Streams: consumer groups share the load, the pending list makes it at least once.

URL: ``redis://[user:password@]host[:port][/db]/stream[?group=NAME&maxlen=N]`` (``rediss://``
for TLS). With one path segment the database is 0. ``group`` overrides the consumer group of
the settings; ``maxlen`` trims a stream written to (approximately, as Redis does cheaply).

Each entry holds its JSON in the field ``data``. Workers of one group read with XREADGROUP, so
every event goes to one worker and stays in the group's pending list until XACK. Recovery:

- on start (and after an error) a worker first takes back its own pending entries, so a
  restart with the same consumer name resumes exactly where it stopped;
- every few seconds it runs XAUTOCLAIM with ``claim_idle_ms``: entries that another consumer
  read and left unacknowledged that long (it died, or was killed with SIGKILL) move to this
  worker and are processed again. The delivery counter grows with every claim, so an event
  that keeps killing workers is eventually dead-lettered instead of claimed forever.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import redis

from studentops.streaming.backends.base import (
    Message,
    OutRecord,
    SinkError,
    StreamURLError,
    int_option,
    query_options,
)

DATA_FIELD = b"data"
_OPTIONS = {"group", "maxlen"}


@dataclass(frozen=True)
class RedisStreamURL:
    """A parsed ``redis://`` stream URL."""

    url: str
    connection: str
    stream: str
    group: str | None
    maxlen: int | None


def parse_redis_url(url: str) -> RedisStreamURL:
    """Split a stream URL into the server, the stream name and the options.

    Raises:
        StreamURLError: not a ``redis://`` or ``rediss://`` URL, no stream name, a database that is
            not a number, or an unknown option.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise StreamURLError(f"{url}: not a redis:// or rediss:// URL")
    segments = (
        [unquote(s) for s in parts.path.strip("/").split("/")] if parts.path.strip("/") else []
    )
    if len(segments) == 1:
        db, stream = "0", segments[0]
    elif len(segments) == 2:
        db, stream = segments
    else:
        raise StreamURLError(f"{url}: expected redis://host:port[/db]/stream")
    if not db.isdigit():
        raise StreamURLError(f"{url}: database must be a number, got {db!r}")
    if not stream:
        raise StreamURLError(f"{url}: no stream name")
    options = query_options(parts.query, _OPTIONS, url)
    netloc = parts.netloc or "localhost:6379"
    return RedisStreamURL(
        url=url,
        connection=f"{parts.scheme}://{netloc}/{db}",
        stream=stream,
        group=options.get("group") or None,
        maxlen=int_option(options, "maxlen", url, None),
    )


def connect(target: RedisStreamURL, name: str | None = None) -> redis.Redis:
    """A client that returns bytes (payloads go straight to orjson, no decoding twice).

    ``name`` shows in CLIENT LIST, so an operator sees which worker holds a connection.
    """
    return redis.Redis.from_url(
        target.connection, decode_responses=False, socket_connect_timeout=5.0, client_name=name
    )


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _message(entry_id: Any, fields: dict[bytes, bytes] | None, deliveries: int) -> Message:
    fields = fields or {}
    data = fields.get(DATA_FIELD)
    raw = None if data is not None else {_text(k): _text(v) for k, v in fields.items()}
    return Message(_text(entry_id), data, "", deliveries, raw)


class RedisStreamSource:
    """Reads one stream as one consumer of a consumer group (created if absent).

    Args:
        url: the stream URL.
        consumer: this worker's name in the group (stable across restarts to resume).
        group: consumer group (the URL's ``group`` option wins).
        claim_idle_ms: take over entries other consumers left pending this long.
    """

    def __init__(
        self,
        url: str,
        consumer: str,
        group: str = "studentops",
        claim_idle_ms: int = 30_000,
        client: redis.Redis | None = None,
    ) -> None:
        self.target = parse_redis_url(url)
        self.url = url
        self.stream = self.target.stream
        self.group = self.target.group or group
        self.consumer = consumer
        self.claim_idle_ms = claim_idle_ms
        self.claim_every_s = min(max(claim_idle_ms / 2000, 0.1), 10.0)
        self.client = client or connect(self.target, f"studentops-worker-{consumer}")
        self._group_ready = False
        self._backlog = True
        self._backlog_after: str | None = None
        self._claim_cursor = "0-0"
        self._next_claim = 0.0

    def ensure_group(self) -> None:
        """Create the group at the start of the stream, so events sent before any worker ran
        are scored too; another worker creating it first is fine."""
        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def read(self, max_count: int, timeout_ms: int) -> list[Message]:
        """Up to ``max_count`` messages for this consumer, waiting at most ``timeout_ms`` ms.

        Stale pending messages of dead consumers are claimed first (``XAUTOCLAIM``), then this
        consumer's own backlog after a rewind, then new messages (``XREADGROUP``).
        """
        if not self._group_ready:
            self.ensure_group()
        if time.monotonic() >= self._next_claim:
            self._next_claim = time.monotonic() + self.claim_every_s
            claimed = self._claim_stale(max_count)
            if claimed:
                return claimed
        if self._backlog:
            own = self._read_own_pending(max_count)
            if own:
                return own
        reply = self.client.xreadgroup(
            self.group,
            self.consumer,
            {self.stream: ">"},
            count=max_count,
            block=max(1, timeout_ms),
        )
        if not reply:
            return []
        return [_message(entry_id, fields, 1) for entry_id, fields in _entries(reply)]

    def _read_own_pending(self, max_count: int) -> list[Message]:
        """This consumer's unacknowledged entries (a restart, or a rewind after an error).

        Taken with XCLAIM rather than re-read, so their delivery counter grows.
        """
        low = "-" if self._backlog_after is None else f"({self._backlog_after}"
        pending = self.client.xpending_range(
            self.stream, self.group, min=low, max="+", count=max_count, consumername=self.consumer
        )
        if not pending:
            self._backlog = False
            return []
        ids: list[Any] = [_text(p["message_id"]) for p in pending]
        counts = {_text(p["message_id"]): int(p["times_delivered"]) for p in pending}
        self._backlog_after = ids[-1]
        entries: Any = self.client.xclaim(self.stream, self.group, self.consumer, 0, ids)
        return [
            _message(entry_id, fields, counts.get(_text(entry_id), 0) + 1)
            for entry_id, fields in entries
            if fields is not None
        ]

    def _claim_stale(self, max_count: int) -> list[Message]:
        """XAUTOCLAIM what other consumers left pending longer than ``claim_idle_ms``."""
        reply = self.client.xautoclaim(
            self.stream,
            self.group,
            self.consumer,
            min_idle_time=self.claim_idle_ms,
            start_id=self._claim_cursor,
            count=max_count,
        )
        self._claim_cursor = _text(reply[0])
        entries = [(entry_id, fields) for entry_id, fields in reply[1] if fields is not None]
        if not entries:
            return []
        pipe = self.client.pipeline(transaction=False)
        for entry_id, _ in entries:
            pipe.xpending_range(self.stream, self.group, min=entry_id, max=entry_id, count=1)
        found = pipe.execute()
        out = []
        for (entry_id, fields), info in zip(entries, found, strict=True):
            deliveries = int(info[0]["times_delivered"]) if info else 1
            out.append(_message(entry_id, fields, deliveries))
        return out

    def ack(self, messages: Sequence[Message]) -> None:
        """Acknowledge ``messages`` in the consumer group (``XACK``): they are not delivered
        again."""
        if messages:
            self.client.xack(self.stream, self.group, *[m.id for m in messages])

    def rewind(self) -> None:
        """Read this consumer's pending messages again from the start of its backlog."""
        self._backlog = True
        self._backlog_after = None

    def close(self) -> None:
        """Leave the group tidy: a consumer with nothing pending is removed from it."""
        try:
            if self._group_ready and not self.client.xpending_range(
                self.stream, self.group, min="-", max="+", count=1, consumername=self.consumer
            ):
                self.client.xgroup_delconsumer(self.stream, self.group, self.consumer)
        except redis.RedisError:
            pass  # the server is gone; nothing to tidy
        self.client.close()


def _entries(reply: Any) -> list[tuple[Any, dict[bytes, bytes]]]:
    """Entries of an XREADGROUP reply (RESP2 list or RESP3 map), one stream."""
    if isinstance(reply, dict):
        return [e for entries in reply.values() for e in (entries[0] if entries else [])]
    return [e for _, entries in reply for e in entries]


# One script call appends a whole chunk: a pipeline of XADDs costs the client ~10 µs per entry
# to encode and parse, the script ~3 µs (benchmarks/bench_stream.py), and a chunk is atomic.
_APPEND = """
local key, maxlen = KEYS[1], ARGV[1]
for i = 2, #ARGV, 2 do
  if maxlen == '' then
    redis.call('XADD', key, '*', 'data', ARGV[i + 1], 'event_id', ARGV[i])
  else
    redis.call('XADD', key, 'MAXLEN', '~', maxlen, '*', 'data', ARGV[i + 1], 'event_id', ARGV[i])
  end
end
return (#ARGV - 1) / 2
"""
APPEND_CHUNK = 1_000  # entries per script call: keeps each call well under a millisecond


class RedisStreamSink:
    """Appends records to one stream (fields ``data`` and ``event_id``), a chunk per call."""

    def __init__(self, url: str, client: redis.Redis | None = None) -> None:
        self.target = parse_redis_url(url)
        self.url = url
        self.stream = self.target.stream
        self.client = client or connect(self.target)
        self._append = self.client.register_script(_APPEND)
        self._maxlen = "" if self.target.maxlen is None else str(self.target.maxlen)

    def write(self, records: Sequence[OutRecord]) -> None:
        """Append records in chunks, each chunk by one server-side script (``XADD`` per record).

        Raises:
            SinkError: a chunk failed; ``failed`` holds the positions not known to be written.
        """
        for start in range(0, len(records), APPEND_CHUNK):
            chunk = records[start : start + APPEND_CHUNK]
            args: list[Any] = [self._maxlen]
            for record in chunk:
                args.append(record.event_id)
                args.append(record.data)
            try:
                self._append(keys=[self.stream], args=args)
            except redis.RedisError as exc:
                failed = range(start, len(records))
                raise SinkError(f"{self.url}: {exc}", failed) from exc

    def write_some(self, records: Sequence[OutRecord]) -> list[int]:
        """Write what can be written; returns the positions of the records that failed."""
        try:
            self.write(records)
        except SinkError as exc:
            return exc.failed
        return []

    def close(self) -> None:
        """Close the Redis connection."""
        self.client.close()
