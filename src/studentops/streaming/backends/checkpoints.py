"""Kinesis checkpoints: the last processed sequence number per shard, in a local SQLite file.

A restart resumes after the checkpoints; an event read but not checkpointed is read again. A
lock file per (group, stream) keeps a second worker on the same host from reading the stream
with the same checkpoints; the OS releases it however the worker ends, even on SIGKILL.
"""

from __future__ import annotations

import fcntl
import sqlite3
import time
from pathlib import Path
from typing import TextIO

from studentops.errors import StudentOpsError

SHARD_END = "SHARD_END"  # the checkpoint of a closed shard that was read to its end


class CheckpointLocked(StudentOpsError):
    """Another worker on this host already reads the stream for this group."""


class CheckpointStore:
    """Last processed sequence number per (group, stream, shard), in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS checkpoints (grp TEXT NOT NULL, stream TEXT NOT NULL,"
            " shard TEXT NOT NULL, sequence TEXT NOT NULL, updated REAL NOT NULL,"
            " PRIMARY KEY (grp, stream, shard))"
        )

    def load(self, group: str, stream: str) -> dict[str, str]:
        """The saved position per shard of ``stream`` for ``group``: ``{shard id: sequence
        number}``."""
        rows = self._db.execute(
            "SELECT shard, sequence FROM checkpoints WHERE grp = ? AND stream = ?", (group, stream)
        )
        return dict(rows.fetchall())

    def save(self, group: str, stream: str, positions: dict[str, str]) -> None:
        """Save the positions ``{shard id: sequence number}`` of ``stream`` for ``group`` in one
        transaction (a shard not named keeps its position).
        """
        if not positions:
            return
        now = time.time()
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO checkpoints VALUES (?, ?, ?, ?, ?) ON CONFLICT (grp, stream, shard)"
                " DO UPDATE SET sequence = excluded.sequence, updated = excluded.updated",
                [(group, stream, shard, seq, now) for shard, seq in positions.items()],
            )

    def close(self) -> None:
        """Close the SQLite connection."""
        self._db.close()


def lock_stream(path: Path, group: str, stream: str) -> TextIO:
    """Hold an exclusive lock for (group, stream) on this host; the OS frees it on any exit.

    Raises:
        CheckpointLocked: another worker on this host holds the lock.
    """
    lock_path = path.with_name(f"{path.name}.{group}.{stream}.lock")
    handle = lock_path.open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise CheckpointLocked(
            f"another worker on this host already reads kinesis stream '{stream}' for group "
            f"'{group}' ({lock_path})"
        ) from None
    return handle
