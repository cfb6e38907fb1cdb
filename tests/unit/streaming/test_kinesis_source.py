"""KinesisSource against a fake client: checkpoints, resharding order, expired iterators."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from studentops.streaming.backends.checkpoints import SHARD_END, CheckpointStore
from studentops.streaming.backends.kinesis import KinesisSource


class ClientError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.response = {"Error": {"Code": code}}


class FakeKinesis:
    """Shards as lists of (sequence number, data); a closed shard ends its iterator."""

    def __init__(self) -> None:
        self.shards: dict[str, dict[str, Any]] = {}
        self.expire_next = False
        self.calls: list[str] = []

    def add_shard(
        self, shard_id: str, records: list[int], parent: str | None = None, closed: bool = False
    ) -> None:
        self.shards[shard_id] = {
            "records": [(str(n), f"{shard_id}:{n}".encode()) for n in records],
            "parent": parent,
            "closed": closed,
        }

    def list_shards(self, **kwargs: Any) -> dict[str, Any]:
        return {
            "Shards": [
                {"ShardId": sid, **({"ParentShardId": s["parent"]} if s["parent"] else {})}
                for sid, s in self.shards.items()
            ]
        }

    def get_shard_iterator(self, **kwargs: Any) -> dict[str, Any]:
        shard = self.shards[kwargs["ShardId"]]
        if kwargs["ShardIteratorType"] == "AFTER_SEQUENCE_NUMBER":
            after = int(kwargs["StartingSequenceNumber"])
            pos = sum(1 for seq, _ in shard["records"] if int(seq) <= after)
        elif kwargs["ShardIteratorType"] == "LATEST":
            pos = len(shard["records"])
        else:
            pos = 0
        return {"ShardIterator": f"{kwargs['ShardId']}|{pos}"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        if self.expire_next:
            self.expire_next = False
            raise ClientError("ExpiredIteratorException")
        shard_id, pos_text = ShardIterator.split("|")
        self.calls.append(shard_id)
        shard = self.shards[shard_id]
        pos = int(pos_text)
        chunk = shard["records"][pos : pos + Limit]
        end = pos + len(chunk)
        done = shard["closed"] and end >= len(shard["records"])
        return {
            "Records": [{"SequenceNumber": seq, "Data": data} for seq, data in chunk],
            "NextShardIterator": None if done else f"{shard_id}|{end}",
        }


def source(client: FakeKinesis, path: Path, url: str = "kinesis://s?poll_ms=1") -> KinesisSource:
    return KinesisSource(url, "g", path, client=client)


def drain(src: KinesisSource, rounds: int = 20) -> list[str]:
    """Read and acknowledge until nothing comes; returns the data read."""
    out: list[str] = []
    for _ in range(rounds):
        batch = src.read(100, 5)
        src.ack(batch)
        out.extend(m.data.decode() for m in batch if m.data is not None)
    return out


def test_resumes_after_the_checkpoint(tmp_path: Path) -> None:
    client = FakeKinesis()
    client.add_shard("a", [1, 2, 3])
    db = tmp_path / "cp.db"
    first = source(client, db)
    batch = first.read(2, 5)
    first.ack(batch)
    first.read(10, 5)  # read, never acknowledged: a crash
    first.close()
    client.shards["a"]["records"].append(("4", b"a:4"))
    again = source(client, db)
    assert drain(again) == ["a:3", "a:4"]
    assert CheckpointStore(db).load("g", "s") == {"a": "4"}


def test_children_wait_for_their_parent_and_finished_shards_stay_finished(tmp_path: Path) -> None:
    client = FakeKinesis()
    client.add_shard("parent", [1, 2], closed=True)
    client.add_shard("child", [10, 11], parent="parent")
    src = source(client, tmp_path / "cp.db")
    first = src.read(100, 5)
    assert [m.partition for m in first] == ["parent", "parent"]  # the child waits
    assert src.read(100, 5) == []  # parent read to its end but not yet acknowledged
    src.ack(first)
    assert drain(src) == ["child:10", "child:11"]
    assert CheckpointStore(tmp_path / "cp.db").load("g", "s")["parent"] == SHARD_END
    src.close()
    client.calls.clear()
    again = source(client, tmp_path / "cp.db")
    assert drain(again) == []
    assert "parent" not in client.calls  # a finished shard is never read again


def test_an_expired_iterator_continues_after_the_last_read(tmp_path: Path) -> None:
    client = FakeKinesis()
    client.add_shard("a", [1, 2, 3, 4])
    src = source(client, tmp_path / "cp.db")
    batch = src.read(2, 5)
    client.expire_next = True
    rest = src.read(10, 50)
    assert [m.id for m in batch + rest] == ["1", "2", "3", "4"]


def test_rewind_reads_again_from_the_checkpoint(tmp_path: Path) -> None:
    client = FakeKinesis()
    client.add_shard("a", [1, 2, 3])
    src = source(client, tmp_path / "cp.db")
    src.ack(src.read(1, 5))
    assert [m.id for m in src.read(10, 5)] == ["2", "3"]
    src.rewind()
    assert [m.id for m in src.read(10, 5)] == ["2", "3"]


def test_start_latest_skips_history_when_there_is_no_checkpoint(tmp_path: Path) -> None:
    client = FakeKinesis()
    client.add_shard("a", [1, 2])
    src = source(client, tmp_path / "cp.db", "kinesis://s?poll_ms=1&start=latest")
    assert src.read(10, 5) == []
    client.shards["a"]["records"].append(("3", b"a:3"))
    assert [m.id for m in src.read(10, 50)] == ["3"]


def test_throttling_backs_the_shard_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeKinesis()
    client.add_shard("a", [1])
    src = source(client, tmp_path / "cp.db")
    real = client.get_records

    def throttled(**kwargs: Any) -> dict[str, Any]:
        client.get_records = real  # type: ignore[method-assign]
        raise ClientError("ProvisionedThroughputExceededException")

    monkeypatch.setattr(client, "get_records", throttled)
    assert src.read(10, 5) == []  # backs off instead of raising
