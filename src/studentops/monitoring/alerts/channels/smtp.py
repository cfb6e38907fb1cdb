"""E-mail over SMTP with the standard library: STARTTLS and login when configured.

``smtplib`` is the well-kept library here; the message is a multipart/alternative
``EmailMessage`` (plain text first, HTML second) so every mail client shows something readable.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import SecretStr

    from studentops.monitoring.alerts.message import AlertMessage


class SmtpChannel:
    """Send alerts as e-mail through an SMTP server.

    Args:
        name: the channel's name in settings.
        host, port: the SMTP server (port 587 for STARTTLS, 465 for implicit TLS, 25 plain).
        sender: the ``From`` address.
        to: recipients.
        starttls: upgrade the connection with STARTTLS before login (refused if the server
            does not offer it).
        ssl: connect with implicit TLS (port 465) instead.
        username, password: log in when a username is given.
        timeout_s: socket timeout, seconds.
        tls_context: an ``ssl.SSLContext`` (default: the system's verified context).
    """

    def __init__(
        self,
        name: str,
        *,
        host: str,
        port: int,
        sender: str,
        to: list[str],
        starttls: bool = False,
        ssl: bool = False,
        username: str | None = None,
        password: SecretStr | None = None,
        timeout_s: float = 10.0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.name = name
        self.host, self.port = host, port
        self.sender, self.to = sender, list(to)
        self.starttls, self.use_ssl = starttls, ssl
        self.username, self.password = username, password
        self.timeout_s = timeout_s
        self.tls_context = tls_context

    def build(self, message: AlertMessage) -> EmailMessage:
        """The e-mail for ``message`` (plain text and HTML alternatives)."""
        mail = EmailMessage()
        mail["Subject"] = message.subject
        mail["From"] = self.sender
        mail["To"] = ", ".join(self.to)
        mail["Date"] = formatdate(localtime=False, usegmt=True)
        mail["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        mail.set_content(message.text())
        mail.add_alternative(message.html(), subtype="html")
        return mail

    def send(self, message: AlertMessage) -> None:
        """Send the message by SMTP: implicit TLS (``ssl``) or STARTTLS; login if ``username``.

        Raises:
            smtplib.SMTPException, OSError: the server refused or could not be reached (retried by
                the delivery loop).
        """
        context = self.tls_context or ssl.create_default_context()
        server: smtplib.SMTP
        if self.use_ssl:
            server = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s, context=context)
        else:
            server = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        with server:
            server.ehlo()
            if self.starttls and not self.use_ssl:
                server.starttls(context=context)
                server.ehlo()
            if self.username:
                secret = self.password.get_secret_value() if self.password else ""
                server.login(self.username, secret)
            server.send_message(self.build(message))
