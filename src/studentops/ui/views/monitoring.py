"""Monitoring page: drift per feature over time, performance over time, alerts, reports.

Thin over ``studentops.ui.monitorview``; every section says "no data yet" until the
monitoring checks (``studentops monitor``) and alerting have written something.
"""

from __future__ import annotations

import streamlit as st

from studentops.ui import charts, monitorview, state

settings, profile_name = state.open_page("Monitoring")

st.subheader("Predictions per day")
per_day = monitorview.predictions_per_day(settings, profile_name)
if per_day.empty:
    state.note("No data yet: no prediction has been logged for this profile.")
else:
    st.altair_chart(charts.predictions_chart(per_day), width="stretch")

checks = monitorview.checks(settings, profile_name)
st.subheader("Drift per feature over time")
drift = monitorview.drift_over_time(settings, profile_name)
if drift.empty:
    state.note(
        "No data yet: no drift check has run for this profile "
        f"(studentops monitor --profile {profile_name})."
    )
else:
    latest = checks.iloc[0] if not checks.empty else None
    if latest is not None:
        verdict = {"ok": "no drift", "drift": "DRIFT", "too_few_rows": "too few rows to judge"}
        st.markdown(
            f"**Latest check:** {verdict.get(latest['status'], latest['status'])}. "
            f"{latest.get('message') or ''}"
        )
    st.altair_chart(
        charts.line_chart(
            monitorview.worst_features(drift),
            "started_at",
            "ratio",
            "feature",
            "check time (date, UTC)",
            "drift statistic / its threshold (1 = alarm)",
            rule=1.0,
        ),
        width="stretch",
    )
    st.caption("The eight features closest to their alarm threshold; every feature below.")
    last = drift[drift["started_at"] == drift["started_at"].max()]
    st.dataframe(
        last[["feature", "statistic", "value", "threshold", "drifted", "message"]],
        hide_index=True,
        width="stretch",
    )

st.subheader("Performance over time")
perf = monitorview.performance_over_time(settings, profile_name)
if perf.empty:
    state.note(
        "No data yet: performance appears once true outcomes are recorded "
        f"(studentops outcomes --profile {profile_name} --data FILE)."
    )
else:
    st.altair_chart(
        charts.line_chart(
            perf, "started_at", "value", "metric", "check time (date, UTC)", "value (0-1)"
        ),
        width="stretch",
    )

st.subheader("Alerts")
current, history = monitorview.alerts(settings, profile_name)
if current.empty and history.empty:
    state.note("No data yet: no alert has been raised for this profile.")
else:
    firing = current[current["state"] == "firing"] if "state" in current.columns else current
    st.markdown(f"**Open alerts:** {len(firing)}")
    if not current.empty:
        st.dataframe(current, hide_index=True, width="stretch")
    if not history.empty:
        with st.expander("Past alerts"):
            st.dataframe(history, hide_index=True, width="stretch")

st.subheader("Reports")
reports = monitorview.report_files(checks)
if not reports:
    state.note("No data yet: no HTML report has been written for this profile.")
else:
    for i, (label, path) in enumerate(reports[:10]):
        st.download_button(
            f"Report of {label}",
            path.read_bytes(),
            file_name=path.name,
            mime="text/html",
            key=f"report-{i}",
            on_click="ignore",
        )
    with st.expander("Open the newest report here"):
        st.components.v1.html(reports[0][1].read_text(encoding="utf-8"), height=700, scrolling=True)
