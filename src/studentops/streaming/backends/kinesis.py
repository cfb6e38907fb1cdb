"""AWS Kinesis Data Streams through boto3, with checkpoints in a local SQLite file.

URL: ``kinesis://stream-name[?region=eu-west-1&start=trim_horizon|latest&poll_ms=200]``. The
endpoint comes from ``settings.aws_endpoint_url`` (moto or LocalStack locally; unset for AWS),
the region from the URL, else ``settings.aws_region``, else boto3's own lookup.

The source reads every shard of the stream (children of a resharded shard only after their
parents are done, which keeps per-student order) and remembers, per consumer group and shard,
the last sequence number whose result was written. The checkpoints live in a SQLite file
(``settings.stream_checkpoint_path``, default ``<home>/stream-checkpoints.db``): a restart
resumes after them, and an event read but not checkpointed is read again. A lock file makes
sure only one worker per host reads a stream for a group. Sharing the shards of one stream
between hosts needs leases, which Lambda's event source mapping (our ``lambda_handler``) or
the KCL provide; the long-running worker does not try to.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from studentops.streaming.backends.base import (
    Message,
    OutRecord,
    SinkError,
    StreamURLError,
    int_option,
    query_options,
)
from studentops.streaming.backends.checkpoints import SHARD_END, CheckpointStore, lock_stream

log = logging.getLogger(__name__)

MAX_PUT_RECORDS = 500
MAX_PUT_BYTES = 5_000_000
MAX_KEY_CHARS = 256
PUT_ATTEMPTS = 5
SHARD_REFRESH_S = 60.0
_OPTIONS = {"region", "start", "poll_ms"}
_STARTS = {"trim_horizon": "TRIM_HORIZON", "latest": "LATEST"}
# Errors that retrying within one call cannot fix (the caller retries the batch later).
_FINAL_ERRORS = {
    "ResourceNotFoundException",
    "AccessDeniedException",
    "ValidationException",
    "InvalidArgumentException",
    "UnrecognizedClientException",
}


@dataclass(frozen=True)
class KinesisStreamURL:
    """A parsed ``kinesis://`` URL."""

    url: str
    stream: str
    region: str | None
    start: str
    poll_ms: int

    def with_stream(self, stream: str) -> str:
        """The ``kinesis://`` URL of another stream in the same region (e.g. the dead-letter
        stream)."""
        query = urlencode({"region": self.region} if self.region else {})
        return f"kinesis://{stream}" + (f"?{query}" if query else "")


def parse_kinesis_url(url: str) -> KinesisStreamURL:
    """Parse ``kinesis://stream-name?region=..&start=trim_horizon|latest&poll_ms=200``.

    Raises:
        StreamURLError: not a ``kinesis://`` URL, no or a nested stream name, an unknown option,
            or a bad ``start`` or ``poll_ms`` value.
    """
    parts = urlsplit(url)
    if parts.scheme != "kinesis":
        raise StreamURLError(f"{url}: not a kinesis:// URL")
    stream = parts.netloc + parts.path.rstrip("/")
    if not stream or "/" in stream:
        raise StreamURLError(f"{url}: expected kinesis://stream-name")
    options = query_options(parts.query, _OPTIONS, url)
    start = options.get("start", "trim_horizon").lower()
    if start not in _STARTS:
        raise StreamURLError(f"{url}: start must be trim_horizon or latest, got {start!r}")
    poll_ms = int_option(options, "poll_ms", url, 200)
    return KinesisStreamURL(
        url=url,
        stream=stream,
        region=options.get("region") or None,
        start=_STARTS[start],
        poll_ms=200 if poll_ms is None else poll_ms,
    )


def make_client(region: str | None, endpoint_url: str | None) -> Any:
    """A Kinesis client with short timeouts and boto3's standard retries."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=5, read_timeout=30
    )
    return boto3.session.Session().client(
        "kinesis", region_name=region, endpoint_url=endpoint_url, config=config
    )


class _KinesisStream:
    """What a source and a sink of one stream share: its parsed URL and a boto3 client."""

    def __init__(
        self,
        url: str,
        endpoint_url: str | None = None,
        region: str | None = None,
        client: Any = None,
    ) -> None:
        self.target = parse_kinesis_url(url)
        self.url = url
        self.stream = self.target.stream
        self.client = client or make_client(self.target.region or region, endpoint_url)


# -- source ---------------------------------------------------------------------------------------


@dataclass
class _Shard:
    id: str
    parents: tuple[str, ...]
    iterator: str | None = None
    last_read: str | None = None
    ended: bool = False
    finished: bool = False
    next_poll: float = 0.0
    pending: list[str] = field(default_factory=list)


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class KinesisSource(_KinesisStream):
    """Reads all shards of a stream, checkpointing per shard after each acknowledged batch.

    Args:
        url: the stream URL.
        group: checkpoint namespace (two groups read the same stream independently).
        checkpoint_path: the SQLite file of checkpoints.
        endpoint_url, region: where Kinesis is (region from the URL wins).
        client: a ready boto3 client (tests); built from the above otherwise.
    """

    def __init__(
        self,
        url: str,
        group: str,
        checkpoint_path: Path,
        endpoint_url: str | None = None,
        region: str | None = None,
        client: Any = None,
    ) -> None:
        super().__init__(url, endpoint_url, region, client)
        self.group = group
        self.poll_s = self.target.poll_ms / 1000
        self._lock = lock_stream(checkpoint_path, group, self.stream)
        self.checkpoints = CheckpointStore(checkpoint_path)
        self._shards: dict[str, _Shard] = {}
        self._saved = self.checkpoints.load(group, self.stream)
        self._next_refresh = 0.0
        self._turn = 0

    # -- shards -----------------------------------------------------------------------------

    def _list_shards(self) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"StreamName": self.stream}
        while True:
            page = self.client.list_shards(**kwargs)
            yield from page.get("Shards", [])
            token = page.get("NextToken")
            if not token:
                return
            kwargs = {"NextToken": token}

    def refresh_shards(self) -> None:
        """Learn new shards (after resharding); keep the state of known ones."""
        for info in self._list_shards():
            shard_id = info["ShardId"]
            if shard_id in self._shards:
                continue
            parents = tuple(
                p for p in (info.get("ParentShardId"), info.get("AdjacentParentShardId")) if p
            )
            shard = _Shard(shard_id, parents)
            shard.finished = self._saved.get(shard_id) == SHARD_END
            self._shards[shard_id] = shard
        self._next_refresh = time.monotonic() + SHARD_REFRESH_S

    def _readable(self) -> list[_Shard]:
        """Unfinished shards whose parents (if still listed) are finished."""
        out = []
        for shard in self._shards.values():
            if shard.finished or shard.ended:
                continue
            parents = [self._shards.get(p) for p in shard.parents]
            if all(p is None or p.finished for p in parents):
                out.append(shard)
        return out

    def _iterator(self, shard: _Shard) -> str:
        after = shard.last_read or self._saved.get(shard.id)
        if after and after != SHARD_END:
            reply = self.client.get_shard_iterator(
                StreamName=self.stream,
                ShardId=shard.id,
                ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                StartingSequenceNumber=after,
            )
        else:
            reply = self.client.get_shard_iterator(
                StreamName=self.stream, ShardId=shard.id, ShardIteratorType=self.target.start
            )
        return str(reply["ShardIterator"])

    def _get(self, shard: _Shard, limit: int) -> list[Message]:
        now = time.monotonic()
        if shard.iterator is None:
            shard.iterator = self._iterator(shard)
        try:
            reply = self.client.get_records(ShardIterator=shard.iterator, Limit=min(limit, 10_000))
        except Exception as exc:
            code = _error_code(exc)
            if code == "ExpiredIteratorException":
                shard.iterator = None
                return []
            if code in ("ProvisionedThroughputExceededException", "KMSThrottlingException"):
                shard.next_poll = now + 1.0
                return []
            raise
        records = reply.get("Records", [])
        shard.iterator = reply.get("NextShardIterator")
        if shard.iterator is None:
            shard.ended = True
            self._next_refresh = 0.0  # a closed shard means children to discover
        messages = [Message(str(r["SequenceNumber"]), bytes(r["Data"]), shard.id) for r in records]
        if messages:
            shard.last_read = messages[-1].id
            shard.pending.append(messages[-1].id)
        shard.next_poll = now + (self.poll_s if not messages else 0.0)
        if shard.ended and not shard.pending:
            self._finish(shard)
        return messages

    def _finish(self, shard: _Shard) -> None:
        shard.finished = True
        self._saved[shard.id] = SHARD_END
        self.checkpoints.save(self.group, self.stream, {shard.id: SHARD_END})

    # -- Source -----------------------------------------------------------------------------

    def read(self, max_count: int, timeout_ms: int) -> list[Message]:
        """Up to ``max_count`` records from this worker's shards, round-robin, waiting at most
        ``timeout_ms`` milliseconds for the first (shards are re-listed every 60 s).
        """
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            if time.monotonic() >= self._next_refresh:
                self.refresh_shards()
            shards = self._readable()
            out: list[Message] = []
            if shards:
                self._turn = (self._turn + 1) % len(shards)
                for shard in shards[self._turn :] + shards[: self._turn]:
                    if shard.next_poll > time.monotonic():
                        continue
                    out.extend(self._get(shard, max_count - len(out)))
                    if len(out) >= max_count:
                        break
            if out:
                return out
            now = time.monotonic()
            if now >= deadline:
                return []
            waits = [s.next_poll - now for s in shards if s.next_poll > now]
            time.sleep(max(0.001, min([deadline - now, self.poll_s, *waits])))

    def ack(self, messages: Sequence[Message]) -> None:
        """Checkpoint the highest acknowledged sequence number of each shard."""
        highest: dict[str, str] = {}
        for m in messages:
            current = highest.get(m.partition)
            if current is None or int(m.id) > int(current):
                highest[m.partition] = m.id
        self.checkpoints.save(self.group, self.stream, highest)
        self._saved.update(highest)
        for shard_id, seq in highest.items():
            shard = self._shards.get(shard_id)
            if shard is None:
                continue
            shard.pending = [p for p in shard.pending if int(p) > int(seq)]
            if shard.ended and not shard.pending and not shard.finished:
                self._finish(shard)

    def rewind(self) -> None:
        """Read again from the checkpoints (new iterators)."""
        for shard in self._shards.values():
            if not shard.finished:
                shard.iterator = None
                shard.last_read = None
                shard.ended = False
                shard.pending = []
                shard.next_poll = 0.0

    def close(self) -> None:
        """Close the checkpoint store and release this host's lock on the stream."""
        self.checkpoints.close()
        self._lock.close()


# -- sink -----------------------------------------------------------------------------------------


def _chunks(records: Sequence[OutRecord]) -> Iterator[list[int]]:
    """Positions of records grouped within the PutRecords limits (count and bytes)."""
    chunk: list[int] = []
    size = 0
    for i, record in enumerate(records):
        cost = len(record.data) + len(record.key[:MAX_KEY_CHARS].encode("utf-8"))
        if chunk and (len(chunk) >= MAX_PUT_RECORDS or size + cost > MAX_PUT_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(i)
        size += cost
    if chunk:
        yield chunk


class KinesisSink(_KinesisStream):
    """Writes records with PutRecords, retrying only the entries Kinesis refused.

    Args:
        url: the stream URL.
        endpoint_url, region: where Kinesis is (region from the URL wins).
        client: a ready boto3 client (tests); built from the above otherwise.
    """

    def write_some(self, records: Sequence[OutRecord]) -> list[int]:
        """Write in PutRecords calls of at most 500 records and 5 MB (the Kinesis limits), retrying
        refused entries; returns the positions of the records still not written.
        """
        failed: list[int] = []
        for chunk in _chunks(records):
            failed.extend(self._put(records, chunk))
        return failed

    def write(self, records: Sequence[OutRecord]) -> None:
        """Write every record (see :meth:`write_some`).

        Raises:
            SinkError: some records were not written; ``failed`` holds their positions.
        """
        failed = self.write_some(records)
        if failed:
            raise SinkError(
                f"{self.url}: {len(failed)} of {len(records)} records not written", failed
            )

    def _put(self, records: Sequence[OutRecord], positions: list[int]) -> list[int]:
        todo = positions
        for attempt in range(PUT_ATTEMPTS):
            entries = [
                {"Data": records[i].data, "PartitionKey": records[i].key[:MAX_KEY_CHARS] or "-"}
                for i in todo
            ]
            try:
                reply = self.client.put_records(StreamName=self.stream, Records=entries)
            except Exception as exc:
                log.warning("put_records to %s failed: %s", self.stream, str(exc)[:200])
                if attempt == PUT_ATTEMPTS - 1 or _error_code(exc) in _FINAL_ERRORS:
                    return todo
            else:
                if not reply.get("FailedRecordCount"):
                    return []
                todo = [
                    i for i, r in zip(todo, reply["Records"], strict=True) if r.get("ErrorCode")
                ]
            time.sleep(min(0.1 * 2**attempt, 2.0))
        return todo

    def close(self) -> None:
        """Nothing to release: boto3 clients hold no resources that need closing."""
