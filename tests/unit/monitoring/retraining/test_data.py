"""Windowing and the forward (most recent) evaluation split of new labelled rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from studentops.errors import DataError
from studentops.monitoring.retraining.data import split_new_rows

NOW = datetime(2026, 6, 30, tzinfo=UTC)


def test_window_and_most_recent_rows_held_out() -> None:
    ages = [400, 300, 10, 1, 5, 2, 3, 4, 20, 30]  # days before NOW, out of order
    frame = pd.DataFrame({"x": range(10), "labelled_at": [NOW - timedelta(days=d) for d in ages]})
    rows = split_new_rows(frame, window_days=100, eval_share=0.25, min_eval_rows=2, now=NOW)
    assert rows.dropped_old == 2
    assert list(rows.evaluation["x"]) == [5, 3]  # the two newest of the eight in the window
    assert sorted(rows.train_new["x"]) == [2, 4, 6, 7, 8, 9]
    assert "labelled_at" not in rows.evaluation.columns
    assert rows.window_start == NOW - timedelta(days=30)


def test_file_order_without_timestamps_and_too_few_rows() -> None:
    frame = pd.DataFrame({"x": range(10)})
    rows = split_new_rows(frame, window_days=1, eval_share=0.3, min_eval_rows=3, now=NOW)
    assert list(rows.evaluation["x"]) == [7, 8, 9]
    with pytest.raises(DataError, match="need 4"):
        split_new_rows(frame, window_days=1, eval_share=0.3, min_eval_rows=4, now=NOW)
