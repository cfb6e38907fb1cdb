"""Every place the product keeps student data, in one list the privacy commands walk.

docs/privacy.md describes the same list for people; ``tests/unit/privacy`` checks that each
table the prediction log and the monitoring store define is covered here, so a new table
cannot be forgotten silently.

Tables live in the prediction log's database (``settings.prediction_log``). Each entry says
which column holds the pseudonymous student key (erase and key rotation) and which column
dates a row (purge). Monitoring result rows carry no student key (they are aggregates) but are
dated, and their per-feature and per-metric rows go with their check.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from studentops.config import Settings


@dataclass(frozen=True)
class TablePlace:
    """A table holding rows about students (or derived from them)."""

    table: str
    what: str
    key_column: str | None  # pseudonymous student key; None for aggregate rows
    time_column: str  # the row's date, for retention
    children: tuple[tuple[str, str], ...] = ()  # (table, foreign key column) deleted with it


TABLES: tuple[TablePlace, ...] = (
    TablePlace("predictions", "prediction log: one row per scored student", "student_key", "ts"),
    TablePlace(
        "outcomes",
        "true outcomes and sensitive-group values, per student",
        "student_key",
        "observed_at",
    ),
    TablePlace(
        "monitor_checks",
        "drift and performance checks (aggregates; per-feature and per-metric rows with them)",
        None,
        "started_at",
        children=(("monitor_features", "check_id"), ("monitor_metrics", "check_id")),
    ),
)


def columnar_copy(settings: Settings) -> Path:
    """The prediction log's Parquet read copy (student keys included); rebuilt on demand."""
    from studentops.monitoring.columnar import columnar_dir

    return columnar_dir(settings)


def rejects_dir(settings: Settings) -> Path:
    """Rejected cells of validation runs (row number, column, raw value, reason)."""
    return settings.home / "rejects"


def events_dir(settings: Settings) -> Path:
    """Event-log feature tables built for training (one row per student id and week)."""
    return settings.home / "events"


def risk_lists_dir(settings: Settings) -> Path:
    """Risk lists saved by the dashboard (``<home>/dashboard/<profile>/batches/*.parquet``):
    the school's own working lists, so they keep the raw id a counselor needs to find a
    student; purge deletes them by age and erase removes one student's rows."""
    return settings.home / "dashboard"
