"""Charts of the dashboard (Altair, which Streamlit ships): units on every axis, and colours
from the Okabe-Ito palette, which stays distinct for the common kinds of colour blindness
(Okabe & Ito, "Color Universal Design", 2008; also Wong, Nature Methods 8:441, 2011).
Bands and directions are also told apart by order and by label, never by colour alone.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

OKABE_ITO = {
    "orange": "#E69F00",
    "sky blue": "#56B4E9",
    "bluish green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish purple": "#CC79A7",
    "black": "#000000",
}
PALETTE = [OKABE_ITO[k] for k in ("blue", "orange", "bluish green", "vermillion", "sky blue")]
PALETTE += [OKABE_ITO[k] for k in ("reddish purple", "yellow", "black")]
BAND_COLOURS = {
    "high": OKABE_ITO["vermillion"],
    "medium": OKABE_ITO["orange"],
    "low": OKABE_ITO["blue"],
}
EFFECT_COLOURS = {"raises the risk": OKABE_ITO["vermillion"], "lowers the risk": OKABE_ITO["blue"]}


def _alt() -> Any:
    import altair as alt

    return alt


def band_scale() -> Any:
    """The Altair colour scale of the risk bands (``BAND_COLOURS``, top band first)."""
    alt = _alt()
    return alt.Scale(domain=list(BAND_COLOURS), range=list(BAND_COLOURS.values()))


def band_counts_chart(counts: pd.DataFrame) -> Any:
    """Students per band (bars), split by group when ``counts`` has a ``group`` column."""
    alt = _alt()
    colour = alt.Color("band:N", scale=band_scale(), title="risk band")
    if "group" in counts.columns:
        return (
            alt.Chart(counts)
            .mark_bar()
            .encode(
                x=alt.X("students:Q", title="students (count)"),
                y=alt.Y("group:N", title="group", sort=None),
                color=colour,
                order=alt.Order("band_order:Q"),
                tooltip=["group", "band", "students"],
            )
            .transform_calculate(
                band_order="datum.band == 'high' ? 0 : (datum.band == 'medium' ? 1 : 2)"
            )
            .properties(height=200)
        )
    return (
        alt.Chart(counts)
        .mark_bar()
        .encode(
            x=alt.X(
                "band:N", sort=list(BAND_COLOURS), title="risk band", axis=alt.Axis(labelAngle=0)
            ),
            y=alt.Y("students:Q", title="students (count)"),
            color=colour,
            tooltip=["band", "students"],
        )
        .properties(height=200)
    )


def reasons_chart(reasons: pd.DataFrame) -> Any:
    """Horizontal bars: each reason's push on the risk in percentage points (up is right)."""
    alt = _alt()
    scale = alt.Scale(domain=list(EFFECT_COLOURS), range=list(EFFECT_COLOURS.values()))
    return (
        alt.Chart(reasons)
        .mark_bar()
        .encode(
            x=alt.X("points:Q", title="change in risk (percentage points)"),
            y=alt.Y("reason:N", sort=None, title=None, axis=alt.Axis(labelLimit=320)),
            color=alt.Color("effect:N", scale=scale, title=None),
            tooltip=["reason", "points", "effect"],
        )
    )


def line_chart(
    frame: pd.DataFrame,
    x: str,
    y: str,
    colour: str,
    x_title: str,
    y_title: str,
    rule: float | None = None,
) -> Any:
    """Lines (with points) of ``y`` over ``x``, one per ``colour`` value; ``rule`` draws a
    dashed horizontal line there (an alarm level)."""
    alt = _alt()
    lines = (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X(f"{x}:{'T' if 'time' in x_title or 'date' in x_title else 'Q'}", title=x_title),
            y=alt.Y(f"{y}:Q", title=y_title),
            color=alt.Color(f"{colour}:N", scale=alt.Scale(range=PALETTE), title=colour),
            tooltip=[x, y, colour],
        )
    )
    if rule is None:
        return lines
    level = (
        alt.Chart(pd.DataFrame({y: [rule]}))
        .mark_rule(strokeDash=[4, 4], color=OKABE_ITO["vermillion"])
        .encode(y=f"{y}:Q")
    )
    return lines + level


def curve_chart(frame: pd.DataFrame, x: str, y: str, x_title: str, y_title: str) -> Any:
    """A ROC, precision-recall or calibration curve per class, on 0..1 axes (diagonal dotted
    for ROC and calibration, where it means 'no better than chance' / 'perfectly calibrated')."""
    alt = _alt()
    lines = (
        alt.Chart(frame)
        .mark_line(point=len(frame) < 60)
        .encode(
            x=alt.X(f"{x}:Q", title=x_title, scale=alt.Scale(domain=[0, 1])),
            y=alt.Y(f"{y}:Q", title=y_title, scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("class:N", scale=alt.Scale(range=PALETTE), title="class"),
            tooltip=["class", x, y],
        )
    )
    if x in ("fpr", "mean_predicted"):
        diagonal = (
            alt.Chart(pd.DataFrame({x: [0.0, 1.0], y: [0.0, 1.0]}))
            .mark_line(strokeDash=[3, 3], color="grey")
            .encode(x=f"{x}:Q", y=f"{y}:Q")
        )
        return lines + diagonal
    return lines


def confusion_chart(frame: pd.DataFrame) -> Any:
    """Heat map of students per (true, predicted) class, with the counts written in."""
    alt = _alt()
    base = alt.Chart(frame).encode(
        x=alt.X("predicted:N", title="predicted class"),
        y=alt.Y("true:N", title="true class"),
    )
    cells = base.mark_rect().encode(
        color=alt.Color("students:Q", scale=alt.Scale(scheme="blues"), title="students (count)")
    )
    text = base.mark_text().encode(text="students:Q")
    return cells + text


def importance_chart(frame: pd.DataFrame) -> Any:
    """Bars: mean absolute effect of each feature on the risk, in percentage points."""
    alt = _alt()
    return (
        alt.Chart(frame)
        .mark_bar(color=OKABE_ITO["blue"])
        .encode(
            x=alt.X("points:Q", title="mean effect on risk (percentage points)"),
            y=alt.Y("feature:N", sort=None, title=None, axis=alt.Axis(labelLimit=320)),
            tooltip=["feature", "points"],
        )
    )


def predictions_chart(frame: pd.DataFrame) -> Any:
    """Stacked bars: predictions logged per day, by band."""
    alt = _alt()
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("day:T", title="date (UTC)"),
            y=alt.Y("predictions:Q", title="predictions (count)"),
            color=alt.Color("band:N", scale=band_scale(), title="risk band"),
            tooltip=["day", "band", "predictions", "mean_risk_pct"],
        )
    )
