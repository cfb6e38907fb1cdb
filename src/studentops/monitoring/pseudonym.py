"""Pseudonymous student keys: a keyed hash (HMAC-SHA256) of the raw id.

The same id always maps to the same key under one secret, so predictions for a student can be
joined over time (drift, outcomes, alerts) without the log ever holding the id. A plain hash
would not do: ids are small integers or short codes, and anyone could hash every candidate.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from pydantic import SecretStr

KEY_HEX_CHARS = 32  # 128 bits: no collisions in any cohort, half the storage of the full digest


class Pseudonymiser:
    """Turns raw student ids into stable keyed pseudonyms; ``None`` stays ``None``."""

    def __init__(self, key: SecretStr | str | bytes) -> None:
        secret = key.get_secret_value() if isinstance(key, SecretStr) else key
        self._key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        if not self._key:
            raise ValueError("the pseudonym key must not be empty")
        # Keyed once; copying the prepared state is several times cheaper than a new HMAC.
        self._base = hmac.new(self._key, digestmod=hashlib.sha256)

    def __call__(self, student_id: Any) -> str | None:
        """The pseudonym of one raw id (hex text), None for a missing id."""
        if student_id is None:
            return None
        text = normalise_id(student_id)
        mac = self._base.copy()
        mac.update(text.encode("utf-8"))
        return mac.hexdigest()[:KEY_HEX_CHARS]


def normalise_id(student_id: Any) -> str:
    """One spelling per id, so 123, 123.0 and " 123" pseudonymise alike."""
    if isinstance(student_id, float) and student_id.is_integer():
        return str(int(student_id))
    return str(student_id).strip()


def pseudonymise(student_id: Any, key: SecretStr | str | bytes) -> str | None:
    """Pseudonymise one id (convenience; reuse a :class:`Pseudonymiser` in loops).

    Returns the keyed hash as hex text (HMAC-SHA256, RFC 2104, truncated to ``KEY_HEX_CHARS``
    characters), None for a missing id.
    """
    return Pseudonymiser(key)(student_id)
