"""The rows of a retraining: what the challenger trains on and what both models are judged on.

New labelled rows are students whose outcomes arrived after the champion was trained. They are
ordered by time (the ``labelled_at`` column when present, else the order of the file, which is
the order outcomes were appended), cut to the window (``retrain_window_days``), and split:

* the most recent ``retrain_eval_share`` of them are the **evaluation** rows: neither the
  champion (trained before they existed) nor the challenger sees them, so both are scored on
  the same students, the ones most like those the model will score next;
* the rest join the original training data (``retrain_include_original``) as the
  challenger's **training** rows.

Holding out the most recent rows rather than a random sample is the forward-chaining
evaluation of time-ordered data (Hyndman & Athanasopoulos, *Forecasting: Principles and
Practice*, 3rd ed., section 5.10): a random split would let the challenger train on students
from the same weeks it is judged on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from studentops.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

TIME_COLUMN = "labelled_at"


@dataclass(frozen=True)
class RetrainRows:
    """The rows of one retraining (frames keep the profile's columns)."""

    train_new: pd.DataFrame
    evaluation: pd.DataFrame
    window_start: datetime | None
    window_end: datetime | None
    dropped_old: int  # labelled rows older than the window

    def window_text(self) -> str:
        """The time window of the new labelled rows in words (UTC), or why there is none."""
        if self.window_start is None or self.window_end is None:
            return "file order (no labelled_at column)"
        return f"{self.window_start:%Y-%m-%d %H:%M} to {self.window_end:%Y-%m-%d %H:%M} UTC"


def split_new_rows(
    new: pd.DataFrame,
    *,
    window_days: float,
    eval_share: float,
    min_eval_rows: int,
    now: datetime | None = None,
) -> RetrainRows:
    """Order, window and split newly labelled rows (see the module docstring).

    Args:
        new: validated labelled rows, optionally with a ``labelled_at`` timestamp column.
        window_days: rows labelled more than this many days before ``now`` are left out.
        eval_share: share of the (windowed) rows held out for evaluation, the most recent.
        min_eval_rows: fewest evaluation rows that make a decision meaningful.
        now: the end of the window (default: the clock).

    Raises:
        DataError: fewer than ``min_eval_rows`` rows would be held out.
    """
    import pandas as pd

    frame = new.reset_index(drop=True)
    start = end = None
    dropped = 0
    if TIME_COLUMN in frame.columns:
        stamps = pd.to_datetime(frame[TIME_COLUMN], utc=True, errors="coerce")
        if stamps.isna().any():
            bad = int(stamps.isna().sum())
            raise DataError(f"column {TIME_COLUMN}: {bad} values are not timestamps")
        end_at = now or datetime.now(UTC)
        cut = end_at - timedelta(days=window_days)
        keep = (stamps >= cut).to_numpy()
        dropped = int((~keep).sum())
        order = stamps[keep].sort_values(kind="stable").index
        frame = frame.loc[order].reset_index(drop=True)
        if len(frame):
            start = stamps[keep].min().to_pydatetime()
            end = stamps[keep].max().to_pydatetime()
    n_eval = round(len(frame) * eval_share)
    if n_eval < min_eval_rows:
        raise DataError(
            f"too few new labelled rows to judge a challenger: {len(frame)} in the window "
            f"({dropped} older left out) give {n_eval} evaluation rows, need "
            f"{min_eval_rows} (retrain_min_eval_rows)"
        )
    cut_at = len(frame) - n_eval
    return RetrainRows(
        train_new=frame.iloc[:cut_at].drop(columns=[TIME_COLUMN], errors="ignore"),
        evaluation=frame.iloc[cut_at:].drop(columns=[TIME_COLUMN], errors="ignore"),
        window_start=start,
        window_end=end,
        dropped_old=dropped,
    )
