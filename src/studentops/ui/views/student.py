"""Student page: one student's risk, the reasons behind it, and a what-if form.

Thin over ``studentops.ui.whatif``; the student comes from the latest risk list.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from studentops.errors import StudentOpsError
from studentops.serving.predictor import RecordsInvalid
from studentops.ui import charts, risklist, state, whatif

settings, profile_name = state.open_page("One student")
current = risklist.latest_list(settings, profile_name)
if current is None:
    state.note("No risk list yet for this profile: score one on the Risk list page first.")
    st.stop()
predictor, why_not = state.predictor(settings, profile_name)
if predictor is None:
    state.note(why_not)
    st.stop()
profile = predictor.profile
table = current.table

students = table["student"].astype(str).tolist()
wanted = st.session_state.get("student")
index = students.index(wanted) if wanted in students else 0
student = st.selectbox(
    "Student (highest risk first)",
    students,
    index=index,
    help="Type to search by id.",
    key="student_pick",
)
state.remember("student", student)
row = whatif.find_student(table, student)
if row is None:
    state.note(f"Student {student} is not in the latest list.")
    st.stop()
record = whatif.student_record(row, predictor.features)
try:
    found = whatif.assess(predictor, record, top_k=6)
except (StudentOpsError, RecordsInvalid) as exc:
    state.show_error(exc)
    st.stop()

risk = found["risk"]
band = found["band"]
c1, c2, c3 = st.columns(3)
c1.metric("Risk", "-" if risk is None else f"{100 * risk:.1f}%")
c2.metric("Band", risklist.BAND_WORDS.get(band, str(band)))
c3.metric("Predicted outcome", found["predicted"])

st.subheader("Why")
reasons = whatif.reasons_frame(profile, found["reasons"])
if reasons.empty:
    state.note("No single input moves this student's risk noticeably.")
else:
    up = reasons[reasons["points"] > 0]
    down = reasons[reasons["points"] < 0]
    if len(up):
        st.markdown(
            "**Raises the risk:** "
            + "; ".join(f"{r.reason} ({r.points:+.1f} points)" for r in up.itertuples())
        )
    if len(down):
        st.markdown(
            "**Lowers the risk:** "
            + "; ".join(f"{r.reason} ({r.points:+.1f} points)" for r in down.itertuples())
        )
    st.altair_chart(charts.reasons_chart(reasons), width="stretch")
    st.caption(
        f"Each bar is how much that answer moves this student's risk, in "
        f"{risklist.REASON_UNIT}, compared with a typical student (SHAP values)."
    )

st.subheader("What if?")
st.caption(
    "Change what the student or the school can change, and see the risk move. "
    "Sensitive attributes (" + (", ".join(profile.sensitive) or "none") + ") are not levers."
)
levers = whatif.levers(profile, predictor.features)
with st.form("what_if"):
    columns = st.columns(3)
    values: dict[str, Any] = {}
    for i, lever in enumerate(levers):
        box = columns[i % 3]
        current_value = record.get(lever.name)
        label = lever.name + (f" ({lever.description})" if lever.description else "")
        if lever.kind == "choice":
            pick = next(
                (j for j, o in enumerate(lever.options) if whatif.same_value(o, current_value)), 0
            )
            values[lever.name] = box.selectbox(
                label,
                lever.options,
                index=pick,
                format_func=lever.label_of,
                key=f"whatif_{lever.name}",
            )
        else:
            is_int = profile.columns[lever.name].type == "integer"
            start = float(current_value) if current_value is not None else (lever.low or 0.0)
            values[lever.name] = box.number_input(
                label,
                min_value=lever.low,
                max_value=lever.high,
                value=start,
                step=lever.step,
                format="%.0f" if is_int else "%.1f",
                key=f"whatif_{lever.name}",
            )
    submitted = st.form_submit_button("See the risk with these answers")
if submitted:
    changes = {
        name: (int(v) if profile.columns[name].type == "integer" else v)
        for name, v in values.items()
        if not whatif.same_value(v, record.get(name))
    }
    if not changes:
        state.note("Nothing changed: edit an answer above first.")
    else:
        try:
            result = whatif.what_if(predictor, record, changes)
        except (StudentOpsError, RecordsInvalid) as exc:
            state.show_error(exc)
        else:
            st.metric(
                "Risk with these answers",
                f"{100 * result.after:.1f}%",
                delta=f"{result.delta_points:+.1f} percentage points",
                delta_color="inverse",
            )
            st.markdown(
                f"From {100 * result.before:.1f}% ({result.band_before}) to "
                f"{100 * result.after:.1f}% ({result.band_after}); predicted outcome "
                f"{result.predicted_before} → {result.predicted_after}. Changed: "
                + ", ".join(f"{k} = {v}" for k, v in changes.items())
            )
