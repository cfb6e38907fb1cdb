"""Hot swap: the current Predictor, replaced atomically when the champion moves.

A request reads ``holder.current`` once and keeps that Predictor to the end, so a swap never
changes a model under a request. A new champion is loaded and warmed up beside the old one in a
background thread; only then is the reference replaced (one attribute store, atomic in CPython).
No request fails or waits for a load; the old model is freed when its last request finishes.

Several uvicorn workers are separate processes: ``POST /v1/admin/reload`` reloads the worker
that received it and touches a signal file that the other workers watch every second, so all
of them follow within a second instead of waiting for their next registry poll.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from studentops.errors import ModelError
from studentops.serving.predictor import ModelInfo, Predictor

log = logging.getLogger(__name__)


class ModelSource(Protocol):
    """Where models come from: the registry in production, anything in tests."""

    def current_version(self) -> str | None:
        """The version the champion alias points at now (None: no champion)."""
        ...

    def load(self, version: str) -> tuple[Any, ModelInfo]:
        """Load that version: (model, info)."""
        ...


@dataclass(frozen=True)
class ReloadResult:
    """What a reload did: 'swapped', 'unchanged' or 'failed', and the versions involved."""

    outcome: str
    previous: str | None
    current: str | None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The result as the JSON body of ``POST /v1/admin/reload``."""
        return {
            "outcome": self.outcome,
            "previous": self.previous,
            "current": self.current,
            "detail": self.detail,
        }


class ModelHolder:
    """Holds the served Predictor and replaces it when the source's champion changes.

    Args:
        source: where to find and load models.
        make_predictor: builds a Predictor from (model, info) (bands, explainer from settings).
        on_swap: called with the new Predictor after each swap (metrics).
        on_reload: called with each ReloadResult (metrics).
    """

    def __init__(
        self,
        source: ModelSource,
        make_predictor: Callable[[Any, ModelInfo], Predictor],
        on_swap: Callable[[Predictor], None] | None = None,
        on_reload: Callable[[ReloadResult], None] | None = None,
    ) -> None:
        self.source = source
        self.make_predictor = make_predictor
        self.on_swap = on_swap
        self.on_reload = on_reload
        self.current: Predictor | None = None
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def version(self) -> str | None:
        """The served model's version, or None before the first load."""
        current = self.current
        return current.info.version if current is not None else None

    def get(self) -> Predictor:
        """The Predictor to use for one request.

        Raises:
            ModelError: no model is loaded (yet), with the last load error if any (HTTP 503).
        """
        current = self.current
        if current is None:
            raise ModelError(self.last_error or "no model loaded yet")
        return current

    def reload(self, force: bool = False) -> ReloadResult:
        """Load the champion if it moved (or ``force``), then swap. Never raises.

        Concurrent calls are serialised, so two triggers never load the same model twice.
        """
        with self._lock:
            previous = self.version
            try:
                version = self.source.current_version()
                if version is None:
                    raise ModelError("the registry has no champion for this profile")
                if version == previous and not force:
                    return self._report(ReloadResult("unchanged", previous, previous))
                model, info = self.source.load(version)
                predictor = self.make_predictor(model, info)
                predictor.warm_up()
            except Exception as exc:  # a bad model must never take the served one down
                error = f"{exc.__class__.__name__}: {exc}"
                # Without a champion the poller retries every second: say it once, not each time.
                level = logging.DEBUG if error == self.last_error else logging.WARNING
                self.last_error = error
                keeping = f"keeping version {previous}" if previous else "no model served yet"
                log.log(level, "model reload failed (%s): %s", keeping, exc)
                return self._report(ReloadResult("failed", previous, previous, self.last_error))
            self.current = predictor
            self.last_error = None
            log.info("serving %s version %s (was %s)", info.name, info.version, previous)
            if self.on_swap is not None:
                self.on_swap(predictor)
            return self._report(ReloadResult("swapped", previous, info.version))

    def _report(self, result: ReloadResult) -> ReloadResult:
        if self.on_reload is not None:
            self.on_reload(result)
        return result

    # -- background polling ----------------------------------------------------------------

    def start_polling(self, interval_s: float, signal_file: Path | None = None) -> None:
        """Poll the source every ``interval_s`` and watch ``signal_file`` every second."""
        if self._thread is not None or interval_s <= 0:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._poll, args=(interval_s, signal_file), name="model-poller", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the polling thread, waiting up to ``timeout`` seconds for it to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _poll(self, interval_s: float, signal_file: Path | None) -> None:
        tick = min(1.0, interval_s)
        seen = _mtime(signal_file)
        next_poll = time.monotonic() + interval_s
        while not self._stop.wait(tick):
            stamp = _mtime(signal_file)
            due = time.monotonic() >= next_poll
            if stamp != seen or due or self.current is None:
                seen = stamp
                next_poll = time.monotonic() + interval_s
                self.reload()


def _mtime(path: Path | None) -> float | None:
    if path is None:
        return None
    try:
        return path.stat().st_mtime_ns / 1e9
    except OSError:
        return None


def signal_reload(path: Path) -> None:
    """Tell the other worker processes to reload now."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    now = time.time()
    import os

    os.utime(path, (now, now))
