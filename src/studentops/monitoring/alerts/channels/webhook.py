"""Webhooks: a JSON POST with httpx, shaped as generic JSON, a Slack or a Teams message.

Any 2xx answer is a delivery; anything else (or a network error) raises, and the delivery
retries with backoff. Extra headers (an ``Authorization`` token) come from settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from studentops.monitoring.alerts.channels import ChannelError

if TYPE_CHECKING:
    from studentops.monitoring.alerts.message import AlertMessage

Shape = Literal["json", "slack", "teams"]


class WebhookChannel:
    """POST each alert as JSON to ``url``.

    Args:
        name: the channel's name in settings.
        url: the receiver.
        shape: ``json`` (``AlertMessage.as_dict``), ``slack`` (Block Kit) or ``teams``
            (Adaptive Card).
        headers: extra HTTP headers.
        timeout_s: seconds for the whole request.
    """

    def __init__(
        self,
        name: str,
        *,
        url: str,
        shape: Shape = "json",
        headers: dict[str, str] | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.name = name
        self.url = url
        self.shape: Shape = shape
        self.headers = dict(headers or {})
        self.timeout_s = timeout_s

    def payload(self, message: AlertMessage) -> dict[str, object]:
        """The JSON body for the webhook's ``shape``: Slack blocks, a Teams card, or the plain
        message."""
        if self.shape == "slack":
            return message.slack()
        if self.shape == "teams":
            return message.teams()
        return message.as_dict()

    def send(self, message: AlertMessage) -> None:
        """POST the payload to the webhook.

        Raises:
            ChannelError: the webhook answered with a non-2xx status.
            httpx.HTTPError: the webhook could not be reached in ``timeout_s`` seconds.
        """
        import httpx

        answer = httpx.post(
            self.url, json=self.payload(message), headers=self.headers, timeout=self.timeout_s
        )
        if not answer.is_success:
            raise ChannelError(f"HTTP {answer.status_code} from the webhook")
