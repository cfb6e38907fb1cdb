"""A straightforward pandas implementation of the weekly features, kept as a yardstick.

For each cut-off it filters the events dated before it and aggregates them with ``groupby``:
obviously correct, and O(weeks x events). The benchmark times it against the vectorised
:func:`studentops.events.weekly.build_weekly_features` and asserts both give the same numbers;
the tests use it as a second opinion on hand-made logs. Not for production use.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import polars as pl

from studentops.events.schema import ASSESSMENT_EVENT_TYPES, KEY, EventLog
from studentops.events.weekly import ACTIVITY_GROUPS, ASSESSMENT_TYPES, RECENT_WEEKS, activity_group


def _slope(group: pd.DataFrame) -> float:
    x, y = group["due_day"].to_numpy(float), group["score"].to_numpy(float)
    if len(x) < 2 or np.var(x) == 0:
        return np.nan
    return float(np.cov(x, y, bias=True)[0, 1] / np.var(x))


def _week_features(
    enrol: pd.DataFrame, ev: pd.DataFrame, cat: pd.DataFrame, week: int, activity: bool
) -> pd.DataFrame:
    cut = 7 * week
    seen = ev[ev["day"] < cut]
    out = enrol.copy()
    out["week"] = week
    out["cutoff_day"] = cut
    keys = list(KEY)

    reg = seen[seen["event_type"] == "registration"].groupby(keys)["day"].min()
    unreg = seen[seen["event_type"] == "unregistration"].groupby(keys)["day"].min()
    out = out.join(reg.rename("_reg"), on=keys).join(unreg.rename("_unreg"), on=keys)
    out["registered"] = out["_reg"].notna()
    out["days_registered_before_start"] = -out["_reg"]
    out["withdrawn"] = out["_unreg"].notna()

    due = cat[cat["due_day"] < cut]
    due_stats = due.groupby(["module", "presentation"]).agg(
        n_due=("assessment_id", "size"), _w_due=("weight", "sum")
    )
    out = out.join(due_stats, on=["module", "presentation"])
    out[["n_due", "_w_due"]] = out[["n_due", "_w_due"]].fillna(0)

    sub = seen[seen["event_type"].isin(ASSESSMENT_EVENT_TYPES)].copy()
    sub["banked"] = sub["banked"].fillna(False).astype(bool)
    own = sub[~sub["banked"]]
    closed = sub[sub["due_day"] < cut]
    scored = sub[sub["score"].notna()]
    timed = own[own["due_day"].notna()]
    g = keys
    parts = {
        "n_submitted": sub.groupby(g).size(),
        "n_banked": sub[sub["banked"]].groupby(g).size(),
        "_due_submitted": closed.groupby(g).size(),
        "_n_own": own.groupby(g).size(),
        "n_late": timed[timed["day"] > timed["due_day"]].groupby(g).size(),
        "n_scored": scored.groupby(g).size(),
        "score_min": scored.groupby(g)["score"].min(),
        "score_max": scored.groupby(g)["score"].max(),
        "score_mean": scored.groupby(g)["score"].mean(),
        "score_std": scored.groupby(g)["score"].std(ddof=1),
        "score_trend": scored[scored["due_day"].notna()]
        .groupby(g)[["due_day", "score"]]
        .apply(_slope),
        "_wnum": scored.assign(_v=scored["weight"] * scored["score"]).groupby(g)["_v"].sum(),
        "_wden": scored[scored["weight"].notna()].groupby(g)["weight"].sum(),
        "_w_due_submitted": closed.groupby(g)["weight"].sum(),
        "mean_days_early": (timed["due_day"] - timed["day"]).groupby([timed[k] for k in g]).mean(),
        "_last": own.groupby(g)["day"].max(),
    }
    for name, series in parts.items():
        out = out.join(series.rename(name), on=keys)
    counts = ["n_submitted", "n_banked", "_due_submitted", "_n_own", "n_late", "n_scored"]
    out[counts] = out[counts].fillna(0)
    out["n_missed"] = out["n_due"] - out["_due_submitted"]
    n_due = out["n_due"].where(out["n_due"] > 0)
    out["share_submitted"] = out["_due_submitted"] / n_due
    out["share_missed"] = out["n_missed"] / n_due
    out["share_late"] = out["n_late"] / out["_n_own"].where(out["_n_own"] > 0)
    den = out["_wden"].fillna(0) + out["_w_due"] - out["_w_due_submitted"].fillna(0)
    out["weighted_score"] = out["_wnum"].fillna(0) / den.where(den > 0)
    out["days_since_last_submission"] = cut - out["_last"]
    out = _progress(out, seen, cat, week)

    if activity:
        act = seen[seen["event_type"] == "activity"].copy()
        act["clicks"] = act["clicks"].fillna(1)
        recent_from = cut - 7 * RECENT_WEEKS if week >= RECENT_WEEKS else -np.inf
        last_from = cut - 7 if week >= 1 else -np.inf
        parts = {
            "n_activity": act.groupby(g).size(),
            "clicks": act.groupby(g)["clicks"].sum(),
            "active_days": act.groupby(g)["day"].nunique(),
            "_in_weeks": act[act["day"] >= 0].groupby(g)["clicks"].sum(),
            "clicks_last_week": act[act["day"] >= last_from].groupby(g)["clicks"].sum(),
            "clicks_last_4_weeks": act[act["day"] >= recent_from].groupby(g)["clicks"].sum(),
            "_last_act": act.groupby(g)["day"].max(),
        }
        for name, series in parts.items():
            out = out.join(series.rename(name), on=keys)
        filled = [n for n in parts if n != "_last_act"]
        out[filled] = out[filled].fillna(0)
        out["clicks_per_week"] = out["_in_weeks"] / week if week > 0 else np.nan
        out["days_since_last_activity"] = cut - out["_last_act"]
        out = _engagement(out, act, week)
    return out.drop(columns=[c for c in out.columns if c.startswith("_")])


def _engagement(out: pd.DataFrame, act: pd.DataFrame, week: int) -> pd.DataFrame:
    """Pre-start clicks, share of active weeks and clicks per activity group, plainly."""
    keys = list(KEY)
    early = act[act["day"] < 0].groupby(keys)["clicks"].sum()
    out = out.join(early.rename("clicks_before_start"), on=keys)
    out["clicks_before_start"] = out["clicks_before_start"].fillna(0)
    in_weeks = act[act["day"] >= 0]
    weeks = in_weeks.assign(_w=in_weeks["day"] // 7).groupby(keys)["_w"].nunique()
    out = out.join(weeks.rename("_active_weeks"), on=keys)
    out["active_weeks_share"] = out["_active_weeks"].fillna(0) / week if week > 0 else np.nan
    group = act["activity_type"].map(lambda t: activity_group(None if pd.isna(t) else str(t)))
    for position, name in enumerate(ACTIVITY_GROUPS):
        clicks = act[group == position].groupby(keys)["clicks"].sum()
        out = out.join(clicks.rename(f"clicks_{name}"), on=keys)
        out[f"clicks_{name}"] = out[f"clicks_{name}"].fillna(0)
    return out


def _missed(enrol: pd.DataFrame, seen: pd.DataFrame, cat: pd.DataFrame, cut: int) -> pd.Series:
    """Assessments due before ``cut`` minus those submitted before it, per enrolment."""
    keys = list(KEY)
    due = cat[cat["due_day"] < cut].groupby(["module", "presentation"]).size().rename("_d")
    sub = seen[seen["event_type"].isin(ASSESSMENT_EVENT_TYPES) & (seen["day"] < cut)]
    done = sub[sub["due_day"] < cut].groupby(keys).size().rename("_s")
    out = enrol.iloc[:, :0].join(due, on=["module", "presentation"]).join(done, on=keys)
    return out["_d"].fillna(0) - out["_s"].fillna(0)


def _progress(out: pd.DataFrame, seen: pd.DataFrame, cat: pd.DataFrame, week: int) -> pd.DataFrame:
    """The progress features (per type, weight lost, last weeks) at one cut-off, plainly."""
    cut, keys, pres = 7 * week, list(KEY), ["module", "presentation"]
    types = cat[[*pres, "assessment_id", "assessment_type"]].drop_duplicates(
        [*pres, "assessment_id"]
    )
    sub = seen[seen["event_type"].isin(ASSESSMENT_EVENT_TYPES)].merge(
        types, on=[*pres, "assessment_id"], how="left"
    )
    sub["banked"] = sub["banked"].fillna(False).astype(bool)
    closed = sub[sub["due_day"] < cut]
    scored = sub[sub["score"].notna()]
    for kind, prefix in ASSESSMENT_TYPES.items():
        n_due = cat[(cat["assessment_type"] == kind) & (cat["due_day"] < cut)].groupby(pres).size()
        done = closed[closed["assessment_type"] == kind].groupby(keys).size()
        mean = scored[scored["assessment_type"] == kind].groupby(keys)["score"].mean()
        t = out.iloc[:, :0].join(n_due.rename("d"), on=pres).join(done.rename("s"), on=keys)
        t = t.fillna(0)
        out[f"{prefix}_n_missed"] = t["d"] - t["s"]
        out[f"{prefix}_share_submitted"] = t["s"] / t["d"].where(t["d"] > 0)
        out = out.join(mean.rename(f"{prefix}_score_mean"), on=keys)
    total = cat.assign(w=cat["weight"].fillna(0)).groupby(pres)["w"].sum().rename("_total")
    out = out.join(total, on=pres)
    whole = out["_total"].where(out["_total"] > 0)
    w_done = closed[closed["weight"].notna()].groupby(keys)["weight"].sum()
    out = out.join(w_done.rename("_w_done"), on=keys)
    out["share_weight_due"] = out["_w_due"] / whole
    out["share_weight_missed"] = (out["_w_due"] - out["_w_done"].fillna(0)) / whole
    own = sub[~sub["banked"] & sub["due_day"].notna() & sub["weight"].notna()]
    late = own[own["day"] > own["due_day"]].groupby(keys)["weight"].sum()
    out = out.join(late.rename("_w_late"), on=keys)
    out["share_weight_late"] = out["_w_late"].fillna(0) / whole
    start = cut - 7 * RECENT_WEEKS if week >= RECENT_WEEKS else -np.inf
    recent = scored[scored["day"] >= start].groupby(keys)["score"].mean()
    before = scored[scored["day"] < start].groupby(keys)["score"].mean()
    out = out.join(recent.rename("score_recent_mean"), on=keys)
    out = out.join(before.rename("_before"), on=keys)
    out["score_recent_change"] = out["score_recent_mean"] - out["_before"]
    n_recent = sub[sub["day"] >= start].groupby(keys).size()
    out = out.join(n_recent.rename("submitted_last_4_weeks"), on=keys)
    out["submitted_last_4_weeks"] = out["submitted_last_4_weeks"].fillna(0)
    earlier = _missed(out, seen, cat, cut - 7 * RECENT_WEEKS) if week >= RECENT_WEEKS else 0
    out["missed_change_4_weeks"] = out["n_missed"] - earlier
    return out


def reference_weekly_features(
    log: EventLog, students: pl.DataFrame | None, weeks: Iterable[int], *, activity: bool
) -> pd.DataFrame:
    """The weekly features by per-cut-off filtering and pandas groupby (slow, plain).

    Args:
        log: a cleaned event log.
        students: the static table (its rows are the enrolments) or None.
        weeks: cut-off weeks.
        activity: add the activity features.

    Returns:
        ``(n_enrolments * n_weeks, ...)`` ordered by enrolment then week, with the columns of
        :func:`studentops.events.weekly.feature_names` (the static ones are not appended).
    """
    # Plain strings, as a straightforward implementation would hold them.
    text = pl.col(pl.Categorical, pl.Enum).cast(pl.String)
    ev = log.events.with_columns(text).to_pandas()
    cat = log.assessments.with_columns(text).to_pandas()
    if students is not None:
        enrol = students.select(pl.col(c).cast(pl.String) for c in KEY).to_pandas()
    else:
        enrol = log.events.select(KEY).unique(maintain_order=True).to_pandas()
    enrol = enrol.set_index(list(KEY)).iloc[:, :0]
    frames = [_week_features(enrol, ev, cat, w, activity).reset_index() for w in sorted(set(weeks))]
    out = pd.concat(frames, ignore_index=True)
    order = {k: i for i, k in enumerate(enrol.index)}
    out["_pos"] = [order[k] for k in zip(*(out[c] for c in KEY), strict=True)]
    out = out.sort_values(["_pos", "week"], kind="stable").drop(columns="_pos")
    return out.reset_index(drop=True)


def feature_differences(
    fast: pl.DataFrame, slow: pd.DataFrame, columns: Iterable[str], tol: float = 1e-9
) -> dict[str, int]:
    """Columns where the two implementations disagree, with the number of differing rows.

    Nulls must match nulls; numbers must agree to ``tol`` (relative and absolute), since the
    vectorised version sums moments where pandas uses two-pass formulas.

    Args:
        fast: :func:`studentops.events.weekly.build_weekly_features` output, ``(n_rows, ...)``.
        slow: :func:`reference_weekly_features` output, same rows in the same order.
        columns: the feature columns to compare.
        tol: relative and absolute tolerance.

    Returns:
        Column -> rows that differ (``{"<rows>": d}`` when the row counts differ by ``d``);
        empty when they agree.
    """
    out: dict[str, int] = {}
    if fast.height != len(slow):
        return {"<rows>": abs(fast.height - len(slow))}
    for name in columns:
        a = fast[name].cast(pl.Float64).to_numpy()
        b = pd.to_numeric(slow[name].astype("float64"), errors="coerce").to_numpy(dtype=float)
        both_nan = np.isnan(a) & np.isnan(b)
        close = np.isclose(a, b, rtol=tol, atol=tol) | both_nan
        bad = int((~close).sum())
        if bad:
            out[name] = bad
    return out
