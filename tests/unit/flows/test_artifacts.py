"""What the flows' artifacts say to a person (the text only; no Prefect server needed)."""

from __future__ import annotations

from studentops.flows.artifacts import metric_text, training_markdown


def test_undefined_metrics_read_undefined_not_nan() -> None:
    report = {
        "model": "studentops-uci-dropout",
        "version": "3",
        "metric": "f1_macro",
        "cv_score": 0.71234,
        "aliases": ["challenger"],
        "test_metrics": {"accuracy": float("nan"), "roc_auc": 0.9},
        "undefined_reason": "no Dropout student in the held-out part",
        "gates": [],
    }
    text = training_markdown(report)
    assert "nan" not in text.lower()
    assert "| accuracy | undefined (no Dropout student in the held-out part) |" in text
    assert "| roc_auc | 0.9000 |" in text and "CV f1_macro: 0.7123" in text
    assert metric_text(None) == "undefined" and metric_text(float("nan")) == "undefined"
