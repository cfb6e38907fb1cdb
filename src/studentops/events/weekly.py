"""Weekly features without leakage: one row per (student, module, presentation, week).

Cut-off convention: the features of week ``w`` use only events with ``day < 7 * w``, that is the
days 0..7w-1 of weeks 1..w plus everything before the start. Week 0 therefore sees only what was
known before the presentation began (registration, banked results, early activity).

How it stays vectorised and leak-free: an event dated ``day`` first becomes visible at calendar
week ``v = max(0, day // 7 + 1)`` (the smallest ``w`` with ``day < 7w``). Every event is added
into a dense (enrolment x calendar week) matrix at column ``v`` with ``numpy.bincount``, and a
cumulative sum / max / min along the weeks gives the value "as of" each cut-off. A value at week
``w`` is built only from columns ``<= w``, so an event dated at or after ``7w`` cannot reach it:
the property test in ``tests/unit/events`` checks exactly that. No loop runs over students.
Events are matched to enrolments by a join on the (categorical) key, one event kind at a time,
reading only the columns that kind needs.

Expects a cleaned log (:func:`studentops.events.cleaning.clean_events`): one result per
assessment, submissions carrying their catalogue due day and weight.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import polars as pl

from studentops.errors import DataError
from studentops.events.schema import ASSESSMENT_EVENT_TYPES, KEY, TEXT, EventLog, cast

RECENT_WEEKS = 4
"""Weeks of the recent window (``clicks_last_4_weeks``, ``score_recent_mean``...): about a month,
the spacing of OULAD's tutor-marked assessments (3 to 6 weeks apart)."""

ASSESSMENT_TYPES: dict[str, str] = {"TMA": "tma", "CMA": "cma", "Exam": "exam"}
"""Catalogue ``assessment_type`` -> column prefix of the per-type features: tutor-marked,
computer-marked and exam (the OULAD types, Kuzilek et al. 2017). Other types count only in the
all-type features."""

FEATURES: dict[str, str] = {
    "registered": "a registration event is dated before the cut-off",
    "days_registered_before_start": "days between registration and the start (negative: late)",
    "withdrawn": "the student unregistered before the cut-off",
    "n_due": "assessments of the presentation due before the cut-off",
    "n_submitted": "results (submissions and exams, banked included) dated before the cut-off",
    "n_banked": "of those, results carried over from an earlier presentation",
    "n_missed": "assessments due before the cut-off and not submitted before it",
    "n_late": "non-banked results submitted after their due day",
    "share_submitted": "share of the due assessments submitted (null when none is due)",
    "share_missed": "share of the due assessments missed (null when none is due)",
    "share_late": "share of the non-banked results that were late",
    "n_scored": "results with a score",
    "score_min": "lowest score so far",
    "score_max": "highest score so far",
    "score_mean": "mean score so far",
    "score_std": "standard deviation of the scores so far (ddof 1; null under 2 scores)",
    "score_trend": "least-squares slope of score against due day (points per day)",
    "weighted_score": "weight-averaged score of the assessments closed so far; missed count 0",
    "mean_days_early": "mean of due day minus submission day (negative: late), non-banked",
    "days_since_last_submission": "cut-off day minus the last non-banked submission day",
}

ACTIVITY_FEATURES: dict[str, str] = {
    "n_activity": "activity events so far",
    "clicks": "clicks so far (an activity without a count is one click)",
    "active_days": "distinct days with activity so far",
    "clicks_per_week": "clicks in weeks 1..w divided by w (null at week 0)",
    "clicks_last_week": "clicks in the last week before the cut-off (week 0: all before start)",
    "clicks_last_4_weeks": "clicks in the last 4 weeks before the cut-off (pre-start = week 0)",
    "days_since_last_activity": "cut-off day minus the last activity day",
}


ACTIVITY_GROUPS: dict[str, tuple[str, ...]] = {
    "forum": ("forumng", "forum", "ouwiki", "wiki", "oucollaborate", "ouelluminate", "chat"),
    "quiz": ("quiz", "externalquiz", "questionnaire", "feedback", "lesson", "h5pactivity"),
    "content": (
        "oucontent",
        "resource",
        "subpage",
        "sharedsubpage",
        "page",
        "url",
        "dualpane",
        "folder",
        "glossary",
        "dataplus",
        "book",
    ),
    "homepage": ("homepage", "course", "course_view"),
}
"""Activity group -> the ``activity_type`` values it counts (lower case, a Moodle ``mod_`` prefix
dropped): the OULAD VLE types (Kuzilek et al. 2017, ``vle.activity_type``) and the Moodle module
names for the same kinds of resource. Other types count only in the all-type activity features.
Clicks per kind of resource are the core inputs of OU Analyse, the Open University's early-warning
system (Kuzilek et al. 2015, "OU Analyse: analysing at-risk students at The Open University")."""

ENGAGEMENT_FEATURES: dict[str, str] = {
    "clicks_before_start": "clicks dated before the presentation start (day < 0): early engagement",
    "active_weeks_share": "share of the weeks 1..w with any activity (null at week 0): regularity",
    **{f"clicks_{group}": f"clicks so far on {group} activities" for group in ACTIVITY_GROUPS},
}
"""Activity features for early weeks, built with :data:`ACTIVITY_FEATURES` when the log has a
click log. Same cut-off rule; not covered by the pandas reference (:mod:`.reference`)."""


PROGRESS_FEATURES: dict[str, str] = {
    **{
        f"{p}_{name}": f"{what} ({t} assessments only)"
        for t, p in ASSESSMENT_TYPES.items()
        for name, what in (
            ("n_missed", "due before the cut-off and not submitted before it"),
            ("share_submitted", "share of the due ones submitted (null when none is due)"),
            ("score_mean", "mean score so far"),
        )
    },
    "share_weight_due": "catalogue weight due before the cut-off / the presentation's total weight",
    "share_weight_missed": "weight of the missed assessments / the presentation's total weight",
    "share_weight_late": "weight of the late non-banked results / the presentation's total weight",
    "score_recent_mean": f"mean score of the results of the last {RECENT_WEEKS} weeks",
    "score_recent_change": f"score_recent_mean minus the mean score before those {RECENT_WEEKS} "
    "weeks",
    "submitted_last_4_weeks": f"results dated in the last {RECENT_WEEKS} weeks",
    "missed_change_4_weeks": f"n_missed now minus n_missed {RECENT_WEEKS} weeks earlier",
}
"""Features for early weeks: per assessment type, assessment weight lost, the recent trajectory.
Same cut-off rule as :data:`FEATURES`."""


def week_visible(day: pl.Expr) -> pl.Expr:
    """The first cut-off week at which an event dated ``day`` is visible (0 before the start).

    ``max(0, day // 7 + 1)``: the smallest ``w`` with ``day < 7 * w``. ``day`` in days since the
    presentation start; the result in weeks.
    """
    return (day // 7 + 1).clip(lower_bound=0)


class _Grid:
    """Dense (enrolment x calendar week) accumulators.

    Events are addressed by ``cells``, their flat index ``k * ncol + week``, computed once per
    set of events (ten million of them for clicks) and reused by every accumulator.
    """

    def __init__(self, n: int, last_week: int) -> None:
        self.n = n
        self.ncol = last_week + 1

    def cells(self, k: np.ndarray, wk: np.ndarray) -> np.ndarray:
        return k.astype(np.int64) * self.ncol + wk

    def cum_sum(self, cells: np.ndarray, values: np.ndarray | None = None) -> np.ndarray:
        grid = np.bincount(cells, weights=values, minlength=self.n * self.ncol)
        grid = grid.reshape(self.n, self.ncol)
        return np.cumsum(grid, axis=1, out=grid)  # in place: one matrix less to allocate

    def cum_max(self, cells: np.ndarray, values: np.ndarray) -> np.ndarray:
        grid = np.full(self.n * self.ncol, np.nan)
        np.fmax.at(grid, cells, values)
        return np.fmax.accumulate(grid.reshape(self.n, self.ncol), axis=1)

    def cum_min(self, cells: np.ndarray, values: np.ndarray) -> np.ndarray:
        grid = np.full(self.n * self.ncol, np.nan)
        np.fmin.at(grid, cells, values)
        return np.fmin.accumulate(grid.reshape(self.n, self.ncol), axis=1)


def _lag(cum: np.ndarray, weeks: int) -> np.ndarray:
    """A cumulative (row x week) matrix as it was ``weeks`` earlier; 0 before the first week."""
    out = np.zeros(cum.shape, dtype=np.float64)
    if weeks < cum.shape[1]:
        out[:, weeks:] = cum[:, : cum.shape[1] - weeks]
    return out


class _Columns:
    """Output columns, converted from (enrolment x week) matrices as soon as each is ready.

    Only the requested weeks are kept, counts shrink to int32 and flags to booleans, so the
    full matrices can be freed one by one instead of all living until the end.
    """

    def __init__(self, n: int, weeks: np.ndarray) -> None:
        self.n = n
        self.weeks = weeks
        self.series: list[pl.Series] = []

    def put(self, name: str, matrix: np.ndarray) -> None:
        # take() returns a fresh C-ordered array, so ravel() and rint(out=) copy nothing more.
        full = np.broadcast_to(matrix, (self.n, matrix.shape[1]))
        values = np.take(full, self.weeks, axis=1).ravel()
        if name in BOOL_FEATURES:
            self.series.append(pl.Series(name, values, dtype=pl.Boolean))
        elif name in INT_FEATURES:
            if values.dtype.kind == "f":
                values = np.rint(values, out=values)
            counts = values.astype(np.int32)
            self.series.append(pl.Series(name, counts, dtype=pl.Int32))
        else:
            self.series.append(pl.Series(name, values, dtype=pl.Float64, nan_to_null=True))


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den where den > 0, NaN elsewhere (no temporary for the masked denominator)."""
    out = np.full(np.broadcast_shapes(np.shape(num), np.shape(den)), np.nan)
    return np.divide(num, den, out=out, where=den > 0)


def _np(frame: pl.DataFrame, column: str, dtype: type = np.float64) -> np.ndarray:
    return frame[column].cast(pl.Float64).fill_null(np.nan).to_numpy().astype(dtype)


def _key(frame: pl.DataFrame) -> list[pl.Expr]:
    """The key columns of ``frame`` as :data:`TEXT`, the type the event log uses."""
    return [cast(pl.col(c), frame.schema[c], TEXT) for c in KEY]


def _enrolments(log: EventLog, students: pl.DataFrame | None) -> pl.DataFrame:
    if students is not None:
        missing = [c for c in KEY if c not in students.columns]
        if missing:
            raise DataError(f"students table lacks key column(s) {', '.join(missing)}")
        enrol = students.select(_key(students))
        if enrol.is_duplicated().any():
            raise DataError("students table has more than one row for an enrolment")
    else:
        enrol = log.events.select(KEY).unique(maintain_order=True)
    return enrol.with_row_index("_k")


def _assessment_features(
    grid: _Grid,
    sub: pl.DataFrame,
    due: tuple[np.ndarray, np.ndarray],
    pidx: np.ndarray,
    cut: np.ndarray,
    out: _Columns,
) -> None:
    k = sub["_k"].to_numpy()
    wk = sub["_wk"].to_numpy()
    day = _np(sub, "day")
    due_day = _np(sub, "due_day")
    score = _np(sub, "score")
    weight = _np(sub, "weight")
    banked = sub["banked"].fill_null(False).to_numpy()
    nb = ~banked
    has_due = ~np.isnan(due_day)
    scored = ~np.isnan(score)
    has_w = ~np.isnan(weight)
    wk_due = np.zeros_like(wk)
    wk_due[has_due] = np.clip(np.floor_divide(due_day[has_due], 7) + 1, 0, None)
    # A submission counts against "due" once both it and its due day are visible.
    wk_closed = np.maximum(wk, wk_due)
    closed = has_due & (wk_closed < grid.ncol)
    n_due, w_due = due[0][pidx], due[1][pidx]

    cell = grid.cells(k, wk)
    due_submitted = grid.cum_sum(grid.cells(k[closed], wk_closed[closed]))
    n_missed = n_due - due_submitted
    n_own = grid.cum_sum(cell[nb])
    late = nb & has_due & (day > due_day)
    n_late = grid.cum_sum(cell[late])
    out.put("n_due", n_due)
    out.put("n_submitted", grid.cum_sum(cell))
    out.put("n_banked", grid.cum_sum(cell[banked]))
    out.put("n_missed", n_missed)
    out.put("n_late", n_late)
    out.put("share_submitted", _ratio(due_submitted, n_due))
    out.put("share_missed", _ratio(n_missed, n_due))
    out.put("share_late", _ratio(n_late, n_own))
    del due_submitted, n_missed, n_own, n_late

    cs, s = cell[scored], score[scored]
    n_scored = grid.cum_sum(cs)
    s1 = grid.cum_sum(cs, s)
    s2 = grid.cum_sum(cs, s * s)
    out.put("n_scored", n_scored)
    out.put("score_min", grid.cum_min(cs, s))
    out.put("score_max", grid.cum_max(cs, s))
    out.put("score_mean", _ratio(s1, n_scored))
    var = _ratio(s2 - s1 * s1 / np.where(n_scored > 0, n_scored, 1), n_scored - 1)
    out.put("score_std", np.sqrt(np.clip(var, 0, None)))
    del n_scored, s1, s2, var

    pts = scored & has_due
    cp, x, y = cell[pts], due_day[pts], score[pts]
    n = grid.cum_sum(cp)
    sx, sy = grid.cum_sum(cp, x), grid.cum_sum(cp, y)
    sxy, sxx = grid.cum_sum(cp, x * y), grid.cum_sum(cp, x * x)
    den = n * sxx - sx * sx
    out.put("score_trend", np.where((n >= 2) & (den > 0), _ratio(n * sxy - sx * sy, den), np.nan))
    del n, sx, sy, sxy, sxx, den

    sw = scored & has_w
    num = grid.cum_sum(cell[sw], weight[sw] * score[sw])
    den_scored = grid.cum_sum(cell[sw], weight[sw])
    cw = closed & has_w
    w_due_submitted = grid.cum_sum(grid.cells(k[cw], wk_closed[cw]), weight[cw])
    out.put("weighted_score", _ratio(num, den_scored + w_due - w_due_submitted))
    del num, den_scored, w_due_submitted

    early = nb & has_due
    out.put(
        "mean_days_early",
        _ratio(grid.cum_sum(cell[early], due_day[early] - day[early]), grid.cum_sum(cell[early])),
    )
    out.put("days_since_last_submission", cut - grid.cum_max(cell[nb], day[nb]))


def _progress_features(
    grid: _Grid,
    sub: pl.DataFrame,
    due: dict[str, tuple[np.ndarray, np.ndarray]],
    pidx: np.ndarray,
    out: _Columns,
) -> None:
    """:data:`PROGRESS_FEATURES` from the submissions (``sub``) and the catalogue (``due``).

    ``due`` maps ``"all"`` and each type of :data:`ASSESSMENT_TYPES` to the (count, weight)
    due so far per (presentation x calendar week), and ``"total"`` to the (count, weight) of
    the whole catalogue per presentation, known before the start.
    """
    k = sub["_k"].to_numpy()
    wk = sub["_wk"].to_numpy()
    day = _np(sub, "day")
    due_day = _np(sub, "due_day")
    score = _np(sub, "score")
    weight = _np(sub, "weight")
    kind = sub["_type"].to_numpy()
    nb = ~sub["banked"].fill_null(False).to_numpy()
    has_due = ~np.isnan(due_day)
    scored = ~np.isnan(score)
    has_w = ~np.isnan(weight)
    wk_due = np.zeros_like(wk)
    wk_due[has_due] = np.clip(np.floor_divide(due_day[has_due], 7) + 1, 0, None)
    wk_closed = np.maximum(wk, wk_due)
    closed = has_due & (wk_closed < grid.ncol)
    cell = grid.cells(k, wk)

    for code, (name, prefix) in enumerate(ASSESSMENT_TYPES.items()):
        mine = kind == code
        n_due = due[name][0][pidx]
        c = closed & mine
        done = grid.cum_sum(grid.cells(k[c], wk_closed[c]))
        out.put(f"{prefix}_n_missed", n_due - done)
        out.put(f"{prefix}_share_submitted", _ratio(done, n_due))
        m = scored & mine
        out.put(
            f"{prefix}_score_mean", _ratio(grid.cum_sum(cell[m], score[m]), grid.cum_sum(cell[m]))
        )
        del done

    total = due["total"][1][pidx][:, None]
    w_due = due["all"][1][pidx]
    cw = closed & has_w
    w_done = grid.cum_sum(grid.cells(k[cw], wk_closed[cw]), weight[cw])
    out.put("share_weight_due", _ratio(w_due, total))
    out.put("share_weight_missed", _ratio(w_due - w_done, total))
    late = nb & has_due & has_w & (day > due_day)
    out.put("share_weight_late", _ratio(grid.cum_sum(cell[late], weight[late]), total))
    del w_due, w_done

    cs, s = cell[scored], score[scored]
    n = grid.cum_sum(cs)
    total_s = grid.cum_sum(cs, s)
    n_before, s_before = _lag(n, RECENT_WEEKS), _lag(total_s, RECENT_WEEKS)
    recent = _ratio(total_s - s_before, n - n_before)
    out.put("score_recent_mean", recent)
    out.put("score_recent_change", recent - _ratio(s_before, n_before))
    del n, total_s, n_before, s_before, recent
    n_sub = grid.cum_sum(cell)
    out.put("submitted_last_4_weeks", n_sub - _lag(n_sub, RECENT_WEEKS))
    n_missed = due["all"][0][pidx] - grid.cum_sum(grid.cells(k[closed], wk_closed[closed]))
    out.put("missed_change_4_weeks", n_missed - _lag(n_missed, RECENT_WEEKS))


def _activity_features(grid: _Grid, act: pl.DataFrame, cut: np.ndarray, out: _Columns) -> None:
    k = act["_k"].to_numpy()
    day = act["day"].to_numpy()
    cell = grid.cells(k, act["_wk"].to_numpy())
    clicks = act["clicks"].fill_null(1).cast(pl.Float64).to_numpy()
    n_activity = grid.cum_sum(cell)
    out.put("n_activity", n_activity)
    cum = grid.cum_sum(cell, clicks)
    out.put("clicks", cum)
    out.put("active_days", grid.cum_sum(grid.cells(*_distinct_days(k, day, grid.n))))
    weeks = np.arange(grid.ncol)
    out.put("clicks_per_week", _ratio(cum - cum[:, :1], np.broadcast_to(weeks, cum.shape)))
    lagged = np.zeros_like(cum)
    lagged[:, 1:] = cum[:, :-1]
    out.put("clicks_last_week", cum - lagged)
    lagged[:] = 0
    lagged[:, RECENT_WEEKS:] = cum[:, :-RECENT_WEEKS]
    out.put("clicks_last_4_weeks", cum - lagged)
    del cum, lagged
    out.put("days_since_last_activity", cut - grid.cum_max(cell, day.astype(np.float64)))
    _engagement_features(grid, act, cell, day, clicks, n_activity, out)


def activity_group(activity_type: str | None) -> int:
    """Position in :data:`ACTIVITY_GROUPS` of an ``activity_type`` (-1: none of the groups).

    Case and a Moodle ``mod_`` prefix are ignored (``mod_forum`` is a forum).
    """
    if activity_type is None:
        return -1
    name = activity_type.strip().lower().removeprefix("mod_")
    for position, names in enumerate(ACTIVITY_GROUPS.values()):
        if name in names:
            return position
    return -1


def _group_codes(act: pl.DataFrame) -> np.ndarray:
    """:func:`activity_group` of each activity row, mapped once per distinct type, not per row."""
    kinds = act.select(pl.col("activity_type").unique())
    codes = kinds.with_columns(
        pl.Series(
            "_g",
            [activity_group(None if v is None else str(v)) for v in kinds["activity_type"]],
            dtype=pl.Int8,
        )
    )
    joined = act.select("activity_type").join(
        codes, on="activity_type", how="left", maintain_order="left", nulls_equal=True
    )
    return joined["_g"].fill_null(-1).to_numpy()


def _engagement_features(
    grid: _Grid,
    act: pl.DataFrame,
    cell: np.ndarray,
    day: np.ndarray,
    clicks: np.ndarray,
    n_activity: np.ndarray,
    out: _Columns,
) -> None:
    """:data:`ENGAGEMENT_FEATURES` from the arrays :func:`_activity_features` already holds:
    each event's grid cell, day and clicks, and the cumulative events per (enrolment, week)."""
    early = day < 0  # pre-start events are all in week 0's cells
    out.put("clicks_before_start", grid.cum_sum(cell[early], clicks[early]))
    active = np.zeros(n_activity.shape)
    active[:, 1:] = np.diff(n_activity, axis=1) > 0  # week 0 is the pre-start days, not a week
    weeks = np.broadcast_to(np.arange(grid.ncol), active.shape)
    out.put("active_weeks_share", _ratio(np.cumsum(active, axis=1), weeks))
    group = _group_codes(act)
    for position, name in enumerate(ACTIVITY_GROUPS):
        mine = group == position
        out.put(f"clicks_{name}", grid.cum_sum(cell[mine], clicks[mine]))


def _distinct_days(k: np.ndarray, day: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(enrolment, visible week) of each distinct (enrolment, day) with activity.

    A boolean (enrolment x day) mask marks the active days; far cheaper than a unique() over
    millions of rows, and the span of days is bounded by the cut-off weeks asked for.
    """
    if len(day) == 0:
        return k[:0], k[:0]
    first = int(day.min())
    span = int(day.max()) - first + 1
    seen = np.zeros(n * span, dtype=bool)
    seen[k.astype(np.int64) * span + (day - first)] = True
    cells = np.flatnonzero(seen)
    days = cells % span + first
    return cells // span, np.clip(days // 7 + 1, 0, None)


def _first_day(events: pl.DataFrame, n: int) -> np.ndarray:
    """Per enrolment, the earliest day among ``events`` (NaN when it has none)."""
    first = events.group_by("_k").agg(pl.col("day").min())
    out = np.full(n, np.nan)
    out[first["_k"].to_numpy()] = first["day"].cast(pl.Float64).to_numpy()
    return out


def _events_of(
    log: EventLog,
    kinds: Sequence[str],
    enrol: pl.DataFrame,
    ncol: int,
    *columns: str,
    with_type: bool = False,
) -> pl.DataFrame:
    """Events of ``kinds`` with their enrolment row ``_k``, visible week ``_wk`` and ``columns``.

    Events of unknown enrolments and events not visible by the last week asked for are left out.
    ``with_type`` adds ``_type``: the position of the catalogue's assessment type in
    :data:`ASSESSMENT_TYPES` (-1 for another type or an assessment the catalogue lacks).
    """
    query = (
        log.events.lazy()
        .filter(pl.col("event_type").is_in(kinds))
        .select(*KEY, "day", *columns, *(["assessment_id"] if with_type else []))
        .join(enrol.lazy(), on=list(KEY), how="inner", maintain_order="left")
        .with_columns(week_visible(pl.col("day")).alias("_wk"))
        .filter(pl.col("_wk") < ncol)
    )
    if with_type:
        codes = pl.DataFrame(
            {"assessment_type": list(ASSESSMENT_TYPES), "_type": range(len(ASSESSMENT_TYPES))},
            schema={"assessment_type": pl.String, "_type": pl.Int8},
        )
        types = (
            log.assessments.lazy()
            .select(*KEY[1:], "assessment_id", pl.col("assessment_type").cast(pl.String))
            .unique([*KEY[1:], "assessment_id"], keep="first")
            .join(codes.lazy(), on="assessment_type", how="left")
            .drop("assessment_type")
        )
        query = (
            query.join(types, on=[*KEY[1:], "assessment_id"], how="left", maintain_order="left")
            .with_columns(pl.col("_type").fill_null(-1))
            .drop("assessment_id")
        )
    return query.drop(*KEY).collect()


def build_weekly_features(
    log: EventLog,
    students: pl.DataFrame | None = None,
    weeks: Iterable[int] = range(1, 41),
    *,
    activity: bool | None = None,
) -> pl.DataFrame:
    """One row per (enrolment, week) with the features of :data:`FEATURES`.

    Args:
        log: a cleaned event log.
        students: the static table (key columns plus demographics/outcome); its rows define the
            enrolments and its other columns are appended. Without it, enrolments are those
            seen in the events.
        weeks: cut-off weeks (``day < 7 * week``), each >= 0.
        activity: add :data:`ACTIVITY_FEATURES`; default: when the log has activity events.

    Returns:
        Polars frame of ``n_enrolments x n_weeks`` rows ordered by enrolment, then week: the
        key columns, ``week``, ``cutoff_day`` (days), :data:`FEATURES`,
        :data:`PROGRESS_FEATURES`, :data:`ACTIVITY_FEATURES` when asked, then the students
        table's other columns. Counts are int32, flags boolean, the rest float64 (null when
        undefined).

    Raises:
        DataError: no week or a week < 0, or a students table without its key columns or with
            an enrolment twice.
    """
    wanted = sorted({int(w) for w in weeks})
    if not wanted or wanted[0] < 0:
        raise DataError("weeks must be a non-empty list of integers >= 0")
    enrol = _enrolments(log, students)
    n = enrol.height
    grid = _Grid(n, wanted[-1])
    col = np.asarray(wanted)
    cut = (7 * np.arange(grid.ncol, dtype=np.float64))[None, :]

    pres = enrol.select("module", "presentation").unique(maintain_order=True).with_row_index("_p")
    pidx = enrol.join(pres, on=["module", "presentation"], how="left", maintain_order="left")[
        "_p"
    ].to_numpy()
    due = _due_matrix(log.assessments, pres, grid)

    out = _Columns(n, col)
    reg_day = _first_day(_events_of(log, ["registration"], enrol, grid.ncol), n)[:, None]
    unreg_day = _first_day(_events_of(log, ["unregistration"], enrol, grid.ncol), n)[:, None]
    registered = reg_day < cut
    out.put("registered", registered)
    out.put("days_registered_before_start", np.where(registered, -reg_day, np.nan))
    out.put("withdrawn", unreg_day < cut)

    sub = _events_of(
        log,
        ASSESSMENT_EVENT_TYPES,
        enrol,
        grid.ncol,
        "due_day",
        "score",
        "weight",
        "banked",
        with_type=True,
    )
    _assessment_features(grid, sub, due, pidx, cut, out)
    by_type = {"all": due, "total": _catalogue_totals(log.assessments, pres)}
    for name in ASSESSMENT_TYPES:
        by_type[name] = _due_matrix(log.assessments, pres, grid, assessment_type=name)
    _progress_features(grid, sub, by_type, pidx, out)
    del sub
    if activity is None:
        activity = bool((log.events["event_type"] == "activity").any())
    if activity:
        act = _events_of(log, ["activity"], enrol, grid.ncol, "clicks", "activity_type")
        _activity_features(grid, act, cut, out)
        del act
    return _assemble(enrol, students, out)


def _due_matrix(
    assessments: pl.DataFrame,
    pres: pl.DataFrame,
    grid: _Grid,
    assessment_type: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per presentation and calendar week: assessments due so far and their summed weight.

    ``assessment_type`` keeps only that type of the catalogue.
    """
    if assessment_type is not None:
        assessments = assessments.filter(
            pl.col("assessment_type").cast(pl.String) == assessment_type
        )
    cat = (
        assessments.filter(pl.col("due_day").is_not_null())
        .join(pres, on=["module", "presentation"], how="inner")
        .with_columns(week_visible(pl.col("due_day")).cast(pl.Int64).alias("_wk"))
        .filter(pl.col("_wk") < grid.ncol)
    )
    p = cat["_p"].to_numpy().astype(np.int64)
    wk = cat["_wk"].to_numpy()
    pg = _Grid(pres.height, grid.ncol - 1)
    cells = pg.cells(p, wk)
    return pg.cum_sum(cells), pg.cum_sum(cells, cat["weight"].fill_null(0.0).to_numpy())


def _catalogue_totals(
    assessments: pl.DataFrame, pres: pl.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Per presentation: (catalogue assessments, their summed weight), each ``(n_pres,)``."""
    totals = (
        assessments.join(pres, on=["module", "presentation"], how="inner")
        .group_by("_p")
        .agg(pl.len().alias("n"), pl.col("weight").fill_null(0.0).sum().alias("w"))
    )
    p = totals["_p"].to_numpy().astype(np.int64)
    count = np.zeros(pres.height)
    weight = np.zeros(pres.height)
    count[p] = totals["n"].to_numpy()
    weight[p] = totals["w"].to_numpy()
    return count, weight


INT_FEATURES = {
    "n_due",
    "n_submitted",
    "n_banked",
    "n_missed",
    "n_late",
    "n_scored",
    "n_activity",
    "clicks",
    "active_days",
    "clicks_last_week",
    "clicks_last_4_weeks",
    "clicks_before_start",
    *(f"clicks_{group}" for group in ACTIVITY_GROUPS),
    *(f"{p}_n_missed" for p in ASSESSMENT_TYPES.values()),
    "submitted_last_4_weeks",
    "missed_change_4_weeks",
}
BOOL_FEATURES = {"registered", "withdrawn"}


def _assemble(enrol: pl.DataFrame, students: pl.DataFrame | None, out: _Columns) -> pl.DataFrame:
    n, nw = enrol.height, len(out.weeks)
    rows = np.repeat(np.arange(n), nw)
    weeks = np.tile(out.weeks, n)
    frame = enrol.drop("_k").select(pl.all().gather(rows))
    frame = frame.with_columns(
        pl.Series("week", weeks, dtype=pl.Int32),
        pl.Series("cutoff_day", weeks * 7, dtype=pl.Int32),
        *out.series,
    )
    out.series.clear()
    if students is not None:
        static = students.with_columns(_key(students))
        extra = [c for c in static.columns if c not in KEY and c not in frame.columns]
        static_rows = enrol.join(
            static.select(*KEY, *extra), on=list(KEY), how="left", maintain_order="left"
        ).drop("_k", *KEY)
        frame = frame.with_columns(static_rows.select(pl.all().gather(rows)))
    return frame


def feature_names(activity: bool, progress: bool = True) -> list[str]:
    """The feature columns :func:`build_weekly_features` adds, in order.

    Args:
        activity: include :data:`ACTIVITY_FEATURES` (the log has activity events).
        progress: include :data:`PROGRESS_FEATURES` (the pandas reference,
            :mod:`studentops.events.reference`, covers only the others).

    Returns:
        Column names.
    """
    return [
        *FEATURES,
        *(PROGRESS_FEATURES if progress else {}),
        *(ACTIVITY_FEATURES if activity else {}),
        *(ENGAGEMENT_FEATURES if activity and progress else {}),
    ]


def as_of(frame: pl.DataFrame, week: int) -> pl.DataFrame:
    """The rows of one cut-off week (``n_enrolments`` rows of a weekly feature table)."""
    return frame.filter(pl.col("week") == week)


def weeks_arg(text: str | Sequence[int]) -> list[int]:
    """Parse "2,4,6" or "2-30:2" (start-stop:step, inclusive) into a list of weeks.

    Returns:
        Sorted distinct weeks (a sequence of numbers is returned as a list as given).

    Raises:
        DataError: a part is not a number or a range, or no week is given.
    """
    if not isinstance(text, str):
        return [int(w) for w in text]
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part[1:]:
                span, _, step = part.partition(":")
                lo, hi = span.split("-", 1)
                out.extend(range(int(lo), int(hi) + 1, int(step or 1)))
            else:
                out.append(int(part))
        except ValueError as exc:
            raise DataError(f"weeks: cannot read {part!r} (use 2,4,6 or 2-30:2)") from exc
    if not out:
        raise DataError("weeks: no week given")
    return sorted(set(out))
