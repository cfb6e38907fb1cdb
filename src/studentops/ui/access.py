"""Who may do what on the dashboard: the API keys from settings, checked as the API checks them.

Anyone who reaches the dashboard may read it unless ``require_api_key`` is set, in which case a
prediction or admin key is asked for first. Admin actions (promote, rollback) need an admin
key and are hidden when none is configured. Identity (who is signed in) belongs to the
institution's single sign-on proxy in front of the dashboard (docs/dashboard.md); the proxy's
user header, when configured, is only shown, never trusted for admin rights.
"""

from __future__ import annotations

from dataclasses import dataclass

from studentops.config import Settings
from studentops.serving.security import AuthError, KeyChecker


@dataclass(frozen=True)
class Access:
    """What the current visitor may do."""

    can_read: bool
    is_admin: bool
    reason: str = ""


def checker(settings: Settings) -> KeyChecker:
    """The API's key checker on the dashboard's settings (same keys, same rules)."""
    return KeyChecker(settings.api_keys, settings.admin_keys, settings.require_api_key)


def admin_enabled(settings: Settings) -> bool:
    """Admin actions exist only when at least one admin key is configured."""
    return bool(settings.admin_keys)


def access_for(settings: Settings, key: str | None) -> Access:
    """The visitor's rights for the key they typed (None or empty: no key).

    Returns:
        Access(can_read, is_admin, reason): ``reason`` says why something is refused.
    """
    keys = checker(settings)
    try:
        keys.check_predict(key or None)
        can_read = True
        reason = ""
    except AuthError as exc:
        can_read, reason = False, str(exc).replace("send it in the X-API-Key header", "type it")
    is_admin = False
    if key:
        try:
            keys.check_admin(key)
            is_admin = True
        except AuthError:
            pass
    return Access(can_read=can_read or is_admin, is_admin=is_admin, reason=reason)


def require_admin(settings: Settings, key: str | None) -> None:
    """Raise AuthError (401/403 with a message) unless ``key`` is an admin key."""
    checker(settings).check_admin(key or None)
