"""Rotating the pseudonymisation key without losing the link between predictions and outcomes.

A keyed hash cannot be reversed, so stored keys can only be moved to a new secret by someone
who holds the raw ids: the school's roster. :func:`rotate_key` hashes every roster id under the
old secrets (the current key and ``pseudonym_previous_keys``) and under the new one, and
rewrites each stored key, in every table with student keys, in one transaction. Predictions
and outcomes of a student keep the same (new) key, so they still join.

Stored keys that no roster id produces (students no longer on the roster) are counted; they
stay under the old key. Keep that key in ``pseudonym_previous_keys`` until those rows are purged
(erase matches them through it), or erase them first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from studentops.errors import ConfigError
from studentops.monitoring.pseudonym import Pseudonymiser
from studentops.privacy.places import TABLES

if TYPE_CHECKING:
    from studentops.config import Settings


@dataclass
class Rotation:
    """What a rotation changed: rows re-keyed per table, keys that matched no roster id."""

    rekeyed: dict[str, int]
    unmatched: dict[str, int]
    roster_ids: int

    def to_dict(self) -> dict[str, Any]:
        """The rotation's counts as plain JSON values (what ``privacy rotate-key --json``
        prints)."""
        return {
            "rekeyed": dict(self.rekeyed),
            "unmatched": dict(self.unmatched),
            "roster_ids": self.roster_ids,
        }


def rotation_map(ids: Iterable[Any], old: list[SecretStr], new: SecretStr) -> dict[str, str]:
    """Old key -> new key for every roster id, under each old secret."""
    olds = [Pseudonymiser(secret) for secret in old]
    fresh = Pseudonymiser(new)
    mapping: dict[str, str] = {}
    for raw in ids:
        target = fresh(raw)
        if target is None:
            continue
        for pseudo in olds:
            key = pseudo(raw)
            if key is not None and key != target:
                mapping[key] = target
    return mapping


def rotate_key(settings: Settings, new_key: SecretStr | str, ids: Iterable[Any]) -> Rotation:
    """Re-key every stored student key from the current (and earlier) keys to ``new_key``.

    Args:
        settings: the stores and the current ``pseudonym_key`` / ``pseudonym_previous_keys``.
        new_key: the new secret (then set it as ``pseudonym_key``).
        ids: the raw ids of the roster (never stored, never logged).

    Returns:
        A :class:`Rotation`.

    Raises:
        ConfigError: the new key is empty or equals the current one.
    """
    from sqlalchemy import bindparam, func, select, update

    from studentops.privacy.retention import Removal, _drop_columnar, _engine, _existing, _table

    new = new_key if isinstance(new_key, SecretStr) else SecretStr(new_key)
    if not new.get_secret_value():
        raise ConfigError("the new pseudonym key is empty")
    if new.get_secret_value() == settings.pseudonym_key.get_secret_value():
        raise ConfigError("the new pseudonym key equals the current one")
    roster = list(ids)
    mapping = rotation_map(roster, [settings.pseudonym_key, *settings.pseudonym_previous_keys], new)
    targets = set(mapping.values())
    rekeyed: dict[str, int] = {}
    unmatched: dict[str, int] = {}
    engine = _engine(settings)
    try:
        present = _existing(engine)
        with engine.begin() as conn:
            for place in TABLES:
                if place.key_column is None or place.table not in present:
                    continue
                table = _table(engine, place.table)
                column = table.c[place.key_column]
                # Distinct keys are few (one per student): match them here, not in SQL IN lists.
                grouped = conn.execute(select(column, func.count()).group_by(column)).all()
                counts: dict[Any, int] = {k: int(n) for k, n in grouped}
                todo = [{"old": k, "new": mapping[k]} for k in counts if k in mapping]
                if todo:
                    statement = (
                        update(table)
                        .where(column == bindparam("old"))
                        .values({place.key_column: bindparam("new")})
                    )
                    conn.execute(statement, todo)
                rekeyed[place.table] = sum(counts[row["old"]] for row in todo)
                unmatched[place.table] = sum(
                    n for k, n in counts.items() if k and k not in mapping and k not in targets
                )
    finally:
        engine.dispose()
    _drop_columnar(settings, Removal("rotate"))
    return Rotation(rekeyed=rekeyed, unmatched=unmatched, roster_ids=len(roster))
