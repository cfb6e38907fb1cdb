"""Real local servers for the alert channels: aiosmtpd (SMTP), moto (SES v2), an HTTP receiver.

Every server binds a free loopback port chosen at run time (aiosmtpd's ``Controller(port=0)``
cannot report the port it got, so the port is chosen first).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from loopback import free_port, moto_in_thread

ARTIFACTS = Path(
    os.environ.get(
        "STUDENTOPS_TEST_ARTIFACTS",
        Path(__file__).resolve().parents[3] / "build" / "test-artifacts",
    )
)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where tests keep what a person should look at (the alert e-mail as received)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@dataclass
class Mailbox:
    """What the SMTP server received: raw messages, and the logins it accepted."""

    host: str
    port: int
    messages: list[bytes] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    tls: list[bool] = field(default_factory=list)
    client_context: ssl.SSLContext | None = None


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (the `cryptography` library), so STARTTLS is real TLS."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[Mailbox]:
    """aiosmtpd on a free port: STARTTLS offered and required before AUTH (login alerts/pw)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    cert, key = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    client_tls = ssl.create_default_context(cafile=str(cert))
    box = Mailbox("127.0.0.1", free_port(), client_context=client_tls)

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            box.messages.append(envelope.original_content or envelope.content)
            box.tls.append(session.ssl is not None)
            return "250 OK"

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"alerts", b"pw")
        if ok:
            box.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)  # handled=True would send no reply

    controller = Controller(
        Handler(),
        hostname=box.host,
        port=box.port,
        tls_context=server_tls,
        require_starttls=True,
        authenticator=authenticator,
        auth_require_tls=True,
        server_hostname="127.0.0.1",
        auth_exclude_mechanism=["LOGIN"],  # smtplib then fails fast on PLAIN (no LOGIN hang)
    )
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """``http://127.0.0.1:<port>`` of moto's server mode, with fake credentials."""
    with moto_in_thread() as url:
        yield url


@dataclass
class Receiver:
    """A local HTTP server that records each POST and answers from a script of statuses."""

    url: str
    requests: list[dict[str, Any]]
    statuses: list[int]


@pytest.fixture
def webhook_receiver() -> Iterator[Receiver]:
    """Records every request (path, headers, JSON body); answers ``statuses`` in turn, then
    200 (set ``receiver.statuses = [500, 500]`` for a receiver that fails twice)."""
    requests: list[dict[str, Any]] = []
    lock = threading.Lock()
    receiver = Receiver("", requests, [])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                requests.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "json": json.loads(body or b"null"),
                        "status": status,
                    }
                )
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"ok" if status == 200 else b"boom")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
