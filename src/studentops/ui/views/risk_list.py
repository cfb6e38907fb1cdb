"""Risk list page: who needs help first, and why. Thin over ``studentops.ui.risklist``."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from studentops.datasets.profile import load_profile
from studentops.errors import StudentOpsError
from studentops.serving.predictor import RecordsInvalid
from studentops.ui import charts, risklist, state


# One shared copy per saved file (the page never changes it): no copy per visit.
@st.cache_resource(show_spinner=False, max_entries=8)
def _latest(home: str, profile: str, stamp: float) -> risklist.RiskList | None:
    return risklist.latest_list(state.settings(), profile)


def _latest_stamp(folder: object) -> float:
    from pathlib import Path

    found = sorted(Path(str(folder)).glob("*.parquet"))
    return found[-1].stat().st_mtime if found else 0.0


settings, profile_name = state.open_page("Students at risk")
profile = load_profile(profile_name, settings.profiles_dir)

upload = st.file_uploader(
    "Score a new list: upload a CSV or Parquet file of students",
    type=["csv", "parquet"],
    help="One row per student, with the profile's columns. The outcome column is not needed.",
)
if upload is not None and st.session_state.get("scored_upload") != upload.file_id:
    predictor, why_not = state.predictor(settings, profile_name)
    if predictor is None:
        state.note(why_not)
        st.stop()
    try:
        with st.spinner("Scoring the students..."):
            frame = risklist.read_upload(upload.getvalue(), upload.name)
            scored = risklist.score_table(
                predictor,
                frame,
                reasons_rows=settings.dashboard_reasons_rows,
                source=upload.name,
                log_to=settings,
            )
            risklist.save_list(settings, scored)
    except (StudentOpsError, RecordsInvalid) as exc:
        state.show_error(exc)
        st.stop()
    st.session_state["scored_upload"] = upload.file_id
    _latest.clear()
    if scored.info.rejected:
        st.warning(
            f"{scored.info.rejected:,} of {scored.info.rows:,} rows could not be scored "
            "(values outside the profile); download them below with the reason for each."
        )
        if scored.rejects is not None:
            st.download_button(
                "Download the refused rows (CSV)",
                risklist.to_csv(scored.rejects),
                file_name=f"{profile_name}-refused-rows.csv",
                mime="text/csv",
            )

folder = risklist.batches_dir(settings, profile_name)
current = _latest(str(settings.home), profile_name, _latest_stamp(folder))
if current is None:
    state.note(
        "No risk list yet for this profile: upload a file of students above "
        "(or run `studentops demo`)."
    )
    st.stop()

info = current.info
table = current.table
when = dt.datetime.fromtimestamp(info.scored_at, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
st.caption(
    f"{info.accepted:,} students from {info.source}, scored {when} by model "
    f"{info.model_name or '?'} version {info.model_version or '?'}. "
    f"Risk is the model's estimate (0-100%) that the student ends in an at-risk outcome; "
    f"reasons are in {risklist.REASON_UNIT} and are shown for the "
    f"{info.explained:,} students at highest risk (open a student for anyone's reasons)."
    + (f" Bands: {info.band_rule}" if info.band_rule else "")
)

left, right = st.columns([2, 3])
with left:
    bands = st.multiselect(
        "Show risk bands",
        list(risklist.BANDS),
        default=list(risklist.BANDS),
        format_func=lambda b: risklist.BAND_WORDS[b],
        key="bands",
    )
    options = risklist.group_columns(profile, table)
    group_col = st.selectbox(
        "Group by",
        ["(no grouping)", *options],
        help="A course, cohort or other group column of the list.",
        key="group_by",
    )
    group = None
    chosen: list[str] = []
    if group_col != "(no grouping)":
        group = risklist.group_values(profile, table, group_col)
        values = sorted(group.unique().tolist(), key=str)
        chosen = st.multiselect(f"Only these {group_col} values", values, key="groups")
shown = risklist.filter_list(table, bands, group, chosen)
shown_group = group.loc[shown.index] if group is not None else None
with right:
    counts = risklist.band_counts(shown, shown_group)
    st.altair_chart(charts.band_counts_chart(counts), width="stretch")

high = int((shown["band"] == "high").sum())
st.subheader(f"{len(shown):,} students shown, {high:,} at high risk")
first = shown.head(3)
st.markdown(
    "**Most at risk:** "
    + "; ".join(
        f"{row.student} ({row.risk_pct:.0f}%, {row.band})" + (f": {row.why}" if row.why else "")
        for row in first.itertuples()
    )
)
columns = list(risklist.DISPLAY)
if "band_note" in shown.columns and shown["band_note"].astype(bool).any():
    columns.insert(5, "band_note")
view = shown[columns]
if shown_group is not None:
    view = view.assign(**{group_col: shown_group.to_numpy()})
event = st.dataframe(
    view,
    hide_index=True,
    width="stretch",
    height=420,
    on_select="rerun",
    selection_mode="single-row",
    key="risk_table",
    column_config={
        "rank": st.column_config.NumberColumn("rank", help="1 = highest risk"),
        "student": st.column_config.TextColumn("student"),
        "predicted": st.column_config.TextColumn("predicted outcome"),
        "risk_pct": st.column_config.ProgressColumn(
            "risk (%)", min_value=0, max_value=100, format="%.1f%%"
        ),
        "band": st.column_config.TextColumn("band"),
        "band_note": st.column_config.TextColumn("why this band"),
        "why": st.column_config.TextColumn("why (top reasons, percentage points)", width="large"),
    },
)
rows = event.selection.rows if event is not None else []
if rows:
    picked = str(view.iloc[rows[0]]["student"])
    state.remember("student", picked)
    st.page_link("views/student.py", label=f"Open student {picked}", icon=":material/person:")
else:
    st.caption("Select a row to open that student.")
st.download_button(
    "Download this list (CSV)",
    lambda: risklist.to_csv(shown),  # built only when clicked
    file_name=f"{profile_name}-risk-list.csv",
    mime="text/csv",
    on_click="ignore",
)
