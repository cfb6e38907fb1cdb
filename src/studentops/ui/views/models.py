"""Models page: versions with aliases, held-out reports, and gated promote / rollback.

Thin over ``studentops.ui.modelview``; promote and rollback go through the registry's gates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import streamlit as st

from studentops.errors import StudentOpsError
from studentops.serving.security import AuthError
from studentops.ui import access, charts, modelview, state

T = TypeVar("T")

settings, profile_name = state.open_page("Models")

items = modelview.versions(settings, profile_name)
if not items:
    state.note(f"No model registered for '{profile_name}' yet (studentops train).")
    st.stop()
st.dataframe(modelview.versions_table(items), hide_index=True, width="stretch")
st.caption(
    "@champion serves predictions; @challenger is the newest candidate; @previous-champion is "
    "what a rollback restores. Scores are on held-out students the model never saw."
)


def _admin_action(action: Callable[[], T]) -> T | None:
    """Run a promote or rollback; a refusal (bad key, no champion...) is one line, not a crash."""
    try:
        return action()
    except (StudentOpsError, AuthError) as exc:
        state.show_error(exc)
        return None


rights = state.access(settings)
st.subheader("Promote or roll back")
if rights.is_admin:
    key = st.session_state.get(state.KEY)
    left, right = st.columns(2)
    if left.button("Promote the challenger (if it passes the gates)", key="promote"):
        decision = _admin_action(lambda: modelview.promote_version(settings, profile_name, key))
        if decision is not None:
            for gate in decision.gates:
                mark = ":green[pass]" if gate.passed else ":red[FAIL]"
                st.markdown(f"{mark} **{gate.name}**: {gate.detail}")
            if decision.promoted:
                st.success(f"Version {decision.version} is now the champion.")
            else:
                st.warning(f"Version {decision.version} stays challenger: a gate failed.")
    if right.button("Roll back to the previous champion", key="rollback"):
        result = _admin_action(lambda: modelview.rollback_champion(settings, profile_name, key))
        if result is not None:
            st.success(f"Version {result.restored} is the champion again (was {result.demoted}).")
elif access.admin_enabled(settings):
    st.caption("Type an admin key in the sidebar to promote or roll back models.")
else:
    st.caption("Promote and rollback are off: no admin keys are configured (admin_keys).")

by_label = {f"version {v.version} {' '.join('@' + a for a in v.aliases)}".strip(): v for v in items}
default = next((i for i, v in enumerate(items) if "champion" in v.aliases), 0)
label = st.selectbox("Show the held-out reports of", list(by_label), index=default)
chosen = by_label[label]
reports = modelview.load_reports(settings, chosen.run_id)

st.subheader("Held-out metrics")
metrics = chosen.test_metrics or reports.get("metrics") or {}
if metrics:
    st.dataframe(modelview.metrics_table(metrics, chosen.metric), hide_index=True)
else:
    state.note("No held-out metrics recorded for this version.")

tabs = st.tabs(
    ["Confusion matrix", "ROC curve", "Precision-recall", "Calibration", "Importance", "Fairness"]
)
with tabs[0]:
    cm = reports.get("confusion_matrix")
    if cm:
        st.altair_chart(charts.confusion_chart(modelview.confusion_frame(cm)))
    else:
        state.note("Not logged for this version (regression models have none).")
# (tab, report, x, y, x title, y title, caption) of the three curves.
CURVES = [
    (1, "roc_curve", "fpr", "tpr", "false positive rate (0-1)", "true positive rate (0-1)", ""),
    (2, "pr_curve", "recall", "precision", "recall (0-1)", "precision (0-1)", ""),
    (
        3,
        "calibration",
        "mean_predicted",
        "fraction_positive",
        "predicted probability (0-1)",
        "observed share (0-1)",
        "On the dotted line, a predicted 30% means 30% of such students.",
    ),
]
for tab, report, x, y, x_title, y_title, caption in CURVES:
    with tabs[tab]:
        curve = reports.get(report)
        if not curve:
            state.note("Not logged for this version.")
            continue
        frame = modelview.curve_frame(curve, x, y)
        st.altair_chart(charts.curve_chart(frame, x, y, x_title, y_title))
        if caption:
            st.caption(caption)
with tabs[4]:
    imp = reports.get("importance")
    if imp and imp.get("importance"):
        st.altair_chart(charts.importance_chart(modelview.importance_frame(imp)), width="stretch")
        st.caption(f"Method: {imp.get('method')}, over {imp.get('rows')} held-out students.")
    else:
        state.note("Not logged for this version.")
with tabs[5]:
    fair = reports.get("fairness")
    frame = modelview.fairness_frame(fair) if fair else None
    if frame is not None and not frame.empty:
        st.dataframe(frame, hide_index=True, width="stretch")
        st.caption(
            f"The promotion gate compares {fair.get('gate_metric')} between groups: the largest "
            f"gap is {fair.get('max_gap', 0):.3f} (allowed {settings.fairness_max_gap:.3f})."
        )
    else:
        state.note("No sensitive attributes audited for this version.")
