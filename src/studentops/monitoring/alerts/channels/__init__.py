"""Alert channels: one module per way of reaching people (SMTP, AWS SES, webhooks, a local file).

Every channel has a ``name`` and a ``send(message)`` that raises :class:`ChannelError` (or any
library error) on failure; retries, counting and logging are the delivery's job
(:mod:`studentops.monitoring.alerts.delivery`), so a channel stays a thin adapter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from studentops.monitoring.alerts.message import AlertMessage


class ChannelError(Exception):
    """A channel could not deliver a message (the server refused it, the network failed)."""


class Channel(Protocol):
    """Anything that can deliver an :class:`AlertMessage`."""

    name: str

    def send(self, message: AlertMessage) -> None:
        """Deliver once; raise on failure (no retries here)."""
        ...
