"""The channel used when none is configured: one line of JSON per alert in a local file, and
the alert printed on the console, so a laptop run still shows what would have been sent."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from studentops.monitoring.alerts.message import AlertMessage

_lock = threading.Lock()


class FileChannel:
    """Append each alert as a JSON line to ``path``; echo it to ``console`` when given.

    Args:
        name: the channel's name.
        path: the JSON-lines file (its folder is created).
        console: a text stream for a human-readable copy (e.g. ``sys.stderr``); None: silent.
    """

    def __init__(self, name: str, *, path: Path, console: TextIO | None = None) -> None:
        self.name = name
        self.path = Path(path)
        self.console = console

    def send(self, message: AlertMessage) -> None:
        """Append the message as one JSON line to the alerts file; print it if ``console`` is set.

        Raises:
            OSError: the file cannot be written (counted as a failed delivery and retried).
        """
        line = json.dumps(message.as_dict(), ensure_ascii=False)
        with _lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(line + "\n")
            if self.console is not None:
                self.console.write(f"\n{message.subject}\n{message.text()}")
                self.console.flush()
