"""What a client must show and may send: API keys, and a cap on the request body.

Keys come from settings (``STUDENTOPS_API_KEYS`` / ``STUDENTOPS_ADMIN_KEYS`` or the YAML file),
never from a request or a database. Prediction keys are optional unless
``require_api_key``; admin routes always need an admin key, and are closed when none is set.
Keys are compared in constant time.
"""

from __future__ import annotations

import hmac
from typing import Any

from pydantic import SecretStr

from studentops.errors import StudentOpsError

API_KEY_HEADER = "X-API-Key"


class AuthError(StudentOpsError):
    """A missing (401) or wrong (403) key."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _matches(given: str, keys: list[bytes]) -> bool:
    candidate = given.encode("utf-8")
    found = False
    for key in keys:  # no early exit: the time taken does not tell which key nearly matched
        found |= hmac.compare_digest(candidate, key)
    return found


class KeyChecker:
    """Checks the ``X-API-Key`` header against the configured prediction and admin keys."""

    def __init__(
        self, api_keys: list[SecretStr], admin_keys: list[SecretStr], require_api_key: bool
    ) -> None:
        self._admin = [k.get_secret_value().encode("utf-8") for k in admin_keys]
        # An admin may also predict.
        self._api = [k.get_secret_value().encode("utf-8") for k in api_keys] + self._admin
        self.require_api_key = require_api_key

    def check_predict(self, given: str | None) -> None:
        """Accept a prediction key (or an admin key); anything when keys are not required.

        Raises:
            AuthError: 401 when required and missing, 403 when wrong.
        """
        if not self.require_api_key:
            return
        if not given:
            raise AuthError(f"missing API key (send it in the {API_KEY_HEADER} header)", 401)
        if not _matches(given, self._api):
            raise AuthError("invalid API key", 403)

    def check_admin(self, given: str | None) -> None:
        """Accept an admin key only (compared in constant time, as every key).

        Raises:
            AuthError: 403 when no admin key is configured or the key is wrong, 401 when
                missing.
        """
        if not self._admin:
            raise AuthError("admin routes are disabled: no admin keys are configured", 403)
        if not given:
            raise AuthError(f"missing admin key (send it in the {API_KEY_HEADER} header)", 401)
        if not _matches(given, self._admin):
            raise AuthError("invalid admin key", 403)


class BodyTooLarge(Exception):
    """Raised inside ``receive`` when a body without Content-Length grows past the cap."""


class BodyLimitMiddleware:
    """Answers 413 for a body over ``max_bytes``, declared or streamed, before it is parsed."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """The ASGI entry: 413 before the app runs, or while the body streams in."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.max_bytes:
                    await _send_413(send, self.max_bytes)
                    return
                break
        received = 0
        started = False

        async def limited_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _send_413(send, self.max_bytes)


async def _send_413(send: Any, limit: int) -> None:
    body = b'{"detail":"request body too large (limit ' + str(limit).encode() + b' bytes)"}'
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
