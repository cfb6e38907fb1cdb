"""Where newly labelled rows come from when no file is given: the monitoring store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from studentops.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

    from studentops.config import Settings


def new_labelled_rows(settings: Settings, profile: str) -> pd.DataFrame:
    """Logged predictions that now have outcomes: features, target and ``labelled_at``.

    Raises:
        DataError: no prediction has an outcome yet.
    """
    raise DataError(
        f"no labelled predictions for '{profile}' in the monitoring store yet: record outcomes "
        "(studentops outcomes) or give --data FILE"
    )
