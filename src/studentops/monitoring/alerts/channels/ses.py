"""E-mail through AWS SES, API v2 (``sesv2.send_email``) with boto3.

Region and sender come from settings (``alert_ses_region`` or ``aws_region``;
``alert_sender``), the endpoint from ``aws_endpoint_url`` so tests and LocalStack point it at a
local server. SES refuses a sender that is not a verified identity
(``MessageRejected``); that surfaces as a failed delivery, counted like any other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from studentops.monitoring.alerts.message import AlertMessage


class SesChannel:
    """Send alerts with SES v2.

    Args:
        name: the channel's name in settings.
        sender: a verified SES identity (address or domain).
        to: recipients.
        region: AWS region of the SES account.
        endpoint_url: a non-AWS endpoint (moto, LocalStack); None for real AWS.
        timeout_s: connect and read timeout, seconds.
    """

    def __init__(
        self,
        name: str,
        *,
        sender: str,
        to: list[str],
        region: str,
        endpoint_url: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.name = name
        self.sender, self.to = sender, list(to)
        self.region, self.endpoint_url = region, endpoint_url
        self.timeout_s = timeout_s
        self._client: Any = None

    def client(self) -> Any:
        """The SES v2 boto3 client, made on first use with ``timeout_s`` connect and read
        timeouts."""
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "sesv2",
                region_name=self.region,
                endpoint_url=self.endpoint_url,
                # Our own retries count and log each attempt; botocore's would hide them.
                config=Config(
                    connect_timeout=self.timeout_s,
                    read_timeout=self.timeout_s,
                    retries={"max_attempts": 1, "mode": "standard"},
                ),
            )
        return self._client

    def send(self, message: AlertMessage) -> None:
        """Send the message as a text and HTML e-mail through SES v2 ``send_email``.

        Raises:
            botocore.exceptions.ClientError: SES refused it (``MessageRejected`` for an unverified
                sender, throttling...); the delivery loop counts and retries it.
        """
        self.client().send_email(
            FromEmailAddress=self.sender,
            Destination={"ToAddresses": self.to},
            Content={
                "Simple": {
                    "Subject": {"Data": message.subject, "Charset": "UTF-8"},
                    "Body": {
                        "Text": {"Data": message.text(), "Charset": "UTF-8"},
                        "Html": {"Data": message.html(), "Charset": "UTF-8"},
                    },
                }
            },
        )
