"""The prediction log with its database work in a child process (the API's choice).

A writer thread inside the API process competes with requests for the GIL: the database driver
releases and retakes it for every row, and each hand-over costs the request thread a context
switch. Measured on 2 cores, one worker, single-student requests: 1,950 requests/s with no log,
1,370 with the in-process writer thread. Here the API process only buffers rows (the same
bounded, never-blocking :meth:`PredictionLog.submit`); a sender thread hashes the student ids
(raw ids never leave the process), serialises a whole batch with one ``orjson`` call and hands
it to the child through a pipe. The child runs an ordinary :class:`PredictionLog` on the rows.

Frames on both pipes are a 4-byte big-endian length and an orjson document:

- parent -> child: ``{"url": ..., "queue_size": n}`` first, then ``{"rows": [[...], ...]}``,
  ``{"flush": seq}`` and ``{"close": true}``;
- child -> parent: ``{"ready": true}`` or ``{"error": "..."}`` once, then
  ``{"written": n, "dropped": {...}, "flushed": seq}`` after each flush and on close, and
  ``{"written": n, "dropped": {...}}`` whenever the child drops rows.

If the child dies, rows sent to it are counted as dropped (``write_error``), never raised.
"""

from __future__ import annotations

import contextlib
import os
import signal
import struct
import subprocess
import sys
import threading
import time
from typing import IO, Any

import orjson

from studentops.errors import ConfigError
from studentops.json_values import dump_json
from studentops.monitoring.predlog import LogRow, PredictionLog

_HEADER = struct.Struct(">I")
START_TIMEOUT_S = 60.0


def write_frame(stream: IO[bytes], message: Any) -> None:
    """Write one length-prefixed frame (4-byte big-endian length, then the JSON body,
    :func:`studentops.json_values.dump_json`)."""
    body = dump_json(message)
    stream.write(_HEADER.pack(len(body)) + body)
    stream.flush()


def read_frame(stream: IO[bytes]) -> Any:
    """The next message, or None at end of stream."""
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(head)
    body = stream.read(size)
    if len(body) < size:
        return None
    return orjson.loads(body)


class ProcessPredictionLog(PredictionLog):
    """A :class:`PredictionLog` whose rows are written by a child process; same interface."""

    def start(self) -> ProcessPredictionLog:
        """Start the writer child process and the thread that feeds it; idempotent."""
        if self._thread is not None:
            return self
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._child = subprocess.Popen(
            [sys.executable, "-m", "studentops.monitoring.logwriter"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        assert self._child.stdin is not None and self._child.stdout is not None
        self._to_child = self._child.stdin
        self._from_child = self._child.stdout
        write_frame(self._to_child, {"url": self.url, "queue_size": self.queue_size * 2})
        ready = _read_with_timeout(self._from_child, START_TIMEOUT_S)
        if not ready or not ready.get("ready"):
            self._child.kill()
            self._child.wait(10)
            detail = (ready or {}).get("error", "the writer process did not start")
            raise ConfigError(f"prediction log: {detail}")
        self._child_dropped: dict[str, int] = {}
        self._flushed = 0
        self._flush_seq = 0
        self._acked = threading.Condition()
        self._dead = False
        self._reader = threading.Thread(
            target=self._read, name="prediction-log-reader", daemon=True
        )
        self._reader.start()
        self._start_writer()
        return self

    def close(self, timeout: float = 10.0) -> None:
        """Write what is buffered (up to ``timeout`` seconds), then stop the child process."""
        if self._thread is None:
            return
        self._stop_writer(timeout)
        try:
            self._child.wait(timeout)
        except subprocess.TimeoutExpired:
            self._child.kill()
            self._child.wait(5)
        self._reader.join(timeout)

    # -- sender thread ---------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            drain = self._drain
            while True:
                batch = self._take(full_only=False)
                if not batch:
                    break
                self._send_rows(batch)
            if drain:  # idle means written: only the child's answer can say so
                self._drain = False
                self._sync()
                with self._lock:
                    if not self._buf:
                        self._idle.set()
            if self._stop:
                self._send({"close": True})
                with contextlib.suppress(OSError):
                    self._to_child.close()
                return

    def _send_rows(self, batch: list[LogRow]) -> None:
        pseudo = self._pseudonym
        rows = [(r.ts, pseudo(r.student_id), *r[2:]) for r in batch]
        if not self._send({"rows": rows}):
            self._drop("write_error", len(rows))

    def _send(self, message: Any) -> bool:
        if self._dead:
            return False
        try:
            write_frame(self._to_child, message)
            return True
        except (OSError, ValueError):  # the child is gone: count, never raise
            self._dead = True
            return False

    def _sync(self, timeout: float = 30.0) -> None:
        """Ask the child to write everything it has and wait for its answer."""
        self._flush_seq += 1
        seq = self._flush_seq
        if not self._send({"flush": seq}):
            return
        deadline = time.monotonic() + timeout
        with self._acked:
            while self._flushed < seq and not self._dead:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._acked.wait(left)

    # -- reader thread ---------------------------------------------------------------------

    def _read(self) -> None:
        while True:
            try:
                message = read_frame(self._from_child)
            except (OSError, ValueError):
                message = None
            if message is None:
                with self._acked:
                    self._dead = True
                    self._acked.notify_all()
                return
            self.written = int(message.get("written", self.written))
            for reason, total in message.get("dropped", {}).items():
                new = int(total) - self._child_dropped.get(reason, 0)
                if new > 0:
                    self._child_dropped[reason] = int(total)
                    self._drop(reason if reason in self.dropped else "write_error", new)
            if "flushed" in message:
                with self._acked:
                    self._flushed = max(self._flushed, int(message["flushed"]))
                    self._acked.notify_all()


def _read_with_timeout(stream: IO[bytes], timeout: float) -> Any:
    box: list[Any] = []
    reader = threading.Thread(target=lambda: box.append(read_frame(stream)), daemon=True)
    reader.start()
    reader.join(timeout)
    return box[0] if box else None


def main() -> None:
    """The child: read frames from stdin, write rows with an ordinary PredictionLog."""
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    # Background work: when the cores are busy, requests go first. The rows wait in the
    # parent's bounded buffer meanwhile (counted as dropped only if that fills).
    with contextlib.suppress(OSError):
        os.nice(5)
    # The parent decides when this process ends (it closes the pipe, or dies and the pipe
    # closes): a Ctrl-C or SIGTERM to the server's process group must not kill the writer
    # before the parent has handed over its last rows.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    config = read_frame(source)
    if not config:
        return
    out_lock = threading.Lock()

    def send(message: Any) -> None:
        with out_lock, contextlib.suppress(OSError, ValueError):
            write_frame(sink, message)

    log: PredictionLog | None = None

    def report_drop(reason: str, count: int) -> None:
        if log is not None:
            send({"written": log.written, "dropped": dict(log.dropped)})

    try:
        log = PredictionLog(
            config["url"],
            key=None,
            queue_size=int(config.get("queue_size", 200_000)),
            on_drop=report_drop,
        ).start()
    except Exception as exc:  # any reason the database cannot be opened, in one line
        send({"error": str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)})
        return
    send({"ready": True})
    try:
        while (message := read_frame(source)) is not None:
            if "rows" in message:
                log.submit(LogRow(*row) for row in message["rows"])
            elif "flush" in message:
                log.flush(60)
                send(
                    {
                        "written": log.written,
                        "dropped": dict(log.dropped),
                        "flushed": message["flush"],
                    }
                )
            elif message.get("close"):
                break
    finally:
        log.close(60)
        send({"written": log.written, "dropped": dict(log.dropped), "flushed": -1})


if __name__ == "__main__":
    main()
