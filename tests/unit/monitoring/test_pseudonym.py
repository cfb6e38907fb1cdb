"""Keyed pseudonyms: stable per key, different across keys, never the raw id."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from studentops.monitoring.pseudonym import KEY_HEX_CHARS, Pseudonymiser, pseudonymise


def test_same_id_same_key_gives_same_pseudonym() -> None:
    p = Pseudonymiser(SecretStr("k1"))
    assert p("123") == p(123) == p(123.0) == p(" 123 ")
    assert len(p("123")) == KEY_HEX_CHARS


def test_key_changes_the_pseudonym_and_it_hides_the_id() -> None:
    a, b = pseudonymise("student-42", "k1"), pseudonymise("student-42", "k2")
    assert a != b
    assert a is not None and "student" not in a
    assert Pseudonymiser("k1")("student-43") != a


def test_none_stays_none_and_empty_key_is_refused() -> None:
    assert Pseudonymiser("k")(None) is None
    with pytest.raises(ValueError):
        Pseudonymiser("")
