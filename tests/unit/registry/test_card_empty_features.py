"""The model card names the features training left out as empty (and says nothing otherwise)."""

from __future__ import annotations

from typing import Any

from studentops.registry.card_content import data_section


def _text(card: dict[str, Any]) -> str:
    return "\n".join(item for block in data_section(card) for item in block.items)


def _card(empty: list[str]) -> dict[str, Any]:
    return {
        "profile": "p",
        "task": "binary",
        "trained_at": "2026-11-30 11:00 UTC",
        "data_fingerprint": "abc",
        "final_fit": {"mode": "holdout", "refitted": False},
        "data": {
            "source": "x.csv",
            "rows_total": 10,
            "rows_accepted": 10,
            "rows_rejected": 0,
            "train_rows": 8,
            "test_rows": 2,
            "split": "stratified",
            "empty_features": empty,
        },
    }


def test_left_out_features_are_named_once() -> None:
    text = _text(_card(["clicks", "active_days"]))
    assert text.count("Left out of the model: `clicks`, `active_days`") == 1
    assert "Left out" not in _text(_card([]))
