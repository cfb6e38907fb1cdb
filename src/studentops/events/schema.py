"""The general event model: what any learning platform's log becomes before features.

An :class:`EventLog` holds three polars tables:

* ``events``: one row per thing a student did or had done to them, dated in days from the start
  of the module presentation (negative = before the start). Types: ``registration``,
  ``unregistration``, ``submission`` (coursework), ``exam``, ``activity`` (a click/view, with a
  ``clicks`` count) and ``other`` (a source type the mapping did not name; cleaning drops and
  counts it, so nothing disappears silently).
* ``assessments``: the catalogue of what is due (id, type, due day, weight) per presentation.
  It is known before the presentation starts, which is why "missed" (due and not submitted) is
  not a leak.
* ``presentations`` (optional): the length of each presentation in days, used to date an exam
  whose due day is missing (the OULAD convention: the end of the presentation).

Days are integers; ``timestamp`` sources are turned into days by the mapping loader.

Text fields (ids, codes, kinds) are polars ``Categorical``: they read and compare as text, so any
institution's ids work, but each cell is a 4-byte code. At 10 million events that is a quarter of
the memory of plain strings, and joins, duplicates and hashes work on integers.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from studentops.errors import DataError

EVENT_TYPES = ("registration", "unregistration", "submission", "exam", "activity", "other")
EventType = pl.Enum(list(EVENT_TYPES))
ASSESSMENT_EVENT_TYPES = ("submission", "exam")

KEY = ("student_id", "module", "presentation")
TEXT = pl.Categorical()

EVENT_SCHEMA: dict[str, pl.DataType] = {
    "student_id": TEXT,
    "module": TEXT,
    "presentation": TEXT,
    "day": pl.Int32(),
    "event_type": EventType,
    "assessment_id": TEXT,
    "score": pl.Float64(),
    "due_day": pl.Int32(),
    "weight": pl.Float64(),
    "banked": pl.Boolean(),
    "clicks": pl.Int32(),
    "resource_id": TEXT,
    "activity_type": TEXT,
}

EVENT_FIELDS: dict[str, str] = {
    "student_id": "the student (any id; kept as text)",
    "module": "the course or module code",
    "presentation": "the run of the module (term, cohort, presentation code)",
    "day": "days since the presentation started; negative before the start",
    "event_type": "registration, unregistration, submission, exam, activity or other",
    "assessment_id": "the assessment a submission or exam belongs to",
    "score": "0-100 result of a submission or exam; null when not marked",
    "due_day": "the assessment's due day (taken from the catalogue when cleaned)",
    "weight": "the assessment's weight in the final mark (catalogue)",
    "banked": "a result carried over from an earlier presentation",
    "clicks": "number of clicks/views an activity event stands for (1 when unknown)",
    "resource_id": "the learning resource (page, quiz...) an activity used; tells apart two "
    "otherwise identical events on different resources",
    "activity_type": "kind of learning resource (page, quiz, forum...) of an activity",
}

ASSESSMENT_SCHEMA: dict[str, pl.DataType] = {
    "module": TEXT,
    "presentation": TEXT,
    "assessment_id": TEXT,
    "assessment_type": pl.String(),
    "due_day": pl.Int32(),
    "weight": pl.Float64(),
}

PRESENTATION_SCHEMA: dict[str, pl.DataType] = {
    "module": TEXT,
    "presentation": TEXT,
    "length_days": pl.Int32(),
}


def conform(frame: pl.DataFrame, schema: dict[str, pl.DataType], what: str) -> pl.DataFrame:
    """Select and cast ``frame`` to ``schema``; absent optional columns become nulls.

    Key columns must be present: a log without student, module, presentation, day and type is
    not an event log, and guessing them would corrupt every feature downstream.

    Args:
        frame: any table, ``(n_rows, n_columns)``.
        schema: column name -> polars type (:data:`EVENT_SCHEMA`, :data:`ASSESSMENT_SCHEMA`...).
        what: the table's name in messages; ``events`` also requires the key columns.

    Returns:
        ``(n_rows, len(schema))`` in the schema's order and types.

    Raises:
        DataError: a required column is missing or a column cannot be cast.
    """
    required = {"events": ("student_id", "day", "event_type")}.get(what, ())
    absent = [c for c in required if c not in frame.columns]
    if absent:
        raise DataError(f"{what}: missing required column(s) {', '.join(absent)}")
    exprs = []
    for name, dtype in schema.items():
        if name in frame.columns:
            exprs.append(cast(pl.col(name), frame.schema[name], dtype))
        else:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
    try:
        return frame.select(exprs)
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as exc:
        raise DataError(f"{what}: a column does not fit the event schema ({exc})") from exc


def cast(expr: pl.Expr, source: pl.DataType, target: pl.DataType) -> pl.Expr:
    """``expr`` cast to ``target``; numbers become text first when the target is text.

    OULAD ids are integers; polars casts only text to ``Categorical``, and the ids must end up as
    the same text whichever source they came from.

    Returns:
        The (lazy) cast expression; a bad value fails when the expression runs.
    """
    if source == target:
        return expr
    if isinstance(target, pl.Categorical) and not isinstance(
        source, pl.String | pl.Categorical | pl.Enum | pl.Null
    ):
        expr = expr.cast(pl.String)
    return expr.cast(target)


@dataclass(frozen=True)
class EventLog:
    """Events plus the assessment catalogue (and optional presentation lengths)."""

    events: pl.DataFrame
    assessments: pl.DataFrame
    presentations: pl.DataFrame | None = None

    @classmethod
    def build(
        cls,
        events: pl.DataFrame,
        assessments: pl.DataFrame | None = None,
        presentations: pl.DataFrame | None = None,
    ) -> EventLog:
        """Conform the tables to the schema; derive the catalogue from submissions if absent.

        A derived catalogue only knows assessments that somebody submitted; pass the real one
        when the source has it, or "missed" undercounts.

        Args:
            events: ``(n_events, n_columns)``, at least student, day and event type.
            assessments: the catalogue (``ASSESSMENT_SCHEMA`` columns) or None.
            presentations: ``module, presentation, length_days`` (days) or None.

        Returns:
            The log; ``events`` has the 13 columns of :data:`EVENT_SCHEMA`.

        Raises:
            DataError: a required column is missing or a column does not fit its type.
        """
        ev = conform(events, EVENT_SCHEMA, "events")
        if assessments is None:
            assessments = derive_catalogue(ev)
        cat = conform(assessments, ASSESSMENT_SCHEMA, "assessments")
        pres = (
            conform(presentations, PRESENTATION_SCHEMA, "presentations")
            if presentations is not None
            else None
        )
        return cls(ev, cat, pres)

    def __len__(self) -> int:
        return self.events.height


def derive_catalogue(events: pl.DataFrame) -> pl.DataFrame:
    """The assessments seen in submissions, with their most common due day and weight.

    Args:
        events: conformed events, ``(n_events, 13)``.

    Returns:
        One row per (module, presentation, assessment) submitted at least once, in
        :data:`ASSESSMENT_SCHEMA` columns; type ``Exam`` or ``coursework``.
    """
    subs = events.filter(
        pl.col("event_type").is_in(ASSESSMENT_EVENT_TYPES) & pl.col("assessment_id").is_not_null()
    )
    return (
        subs.group_by("module", "presentation", "assessment_id", maintain_order=True)
        .agg(
            pl.when(pl.col("event_type").first() == "exam")
            .then(pl.lit("Exam"))
            .otherwise(pl.lit("coursework"))
            .alias("assessment_type"),
            pl.col("due_day").drop_nulls().mode().min().alias("due_day"),
            pl.col("weight").drop_nulls().mode().min().alias("weight"),
        )
        .select(list(ASSESSMENT_SCHEMA))
    )
