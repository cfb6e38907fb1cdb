"""The dashboard's entry script (``streamlit run``): sidebar (profile, sign-in) and the pages.

``studentops dashboard`` starts Streamlit on this file; each page in ``views/`` is a thin
script over the plain functions of this part.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from studentops.ui import state

HERE = Path(__file__).parent
PAGES = {
    "risk_list": ("views/risk_list.py", "Risk list", ":material/format_list_numbered:"),
    "student": ("views/student.py", "Student", ":material/person:"),
    "models": ("views/models.py", "Models", ":material/model_training:"),
    "monitoring": ("views/monitoring.py", "Monitoring", ":material/monitoring:"),
}


def main() -> None:
    """The dashboard's entry point: page config, navigation, profile chooser and access key."""
    st.set_page_config(page_title="studentops", page_icon=":material/school:", layout="wide")
    settings = state.settings()
    pages = [
        st.Page(str(HERE / path), title=title, icon=icon, url_path=key, default=key == "risk_list")
        for key, (path, title, icon) in PAGES.items()
    ]
    page = st.navigation(pages)
    with st.sidebar:
        choices = state.profile_choices(settings)
        current = state.chosen_profile()
        index = choices.index(current) if current in choices else 0
        st.selectbox(
            "Profile (which school data and model)", choices, index=index, key=state.PROFILE
        )
        st.text_input(
            "Access key",
            type="password",
            key=state.KEY,
            help="An API key from the settings; an admin key also shows promote and rollback.",
        )
        rights = state.access(settings)
        if rights.is_admin:
            st.caption("Signed in as an administrator.")
        elif settings.require_api_key and not rights.can_read:
            st.caption(rights.reason or "Type your access key to continue.")
        if settings.dashboard_user_header:
            user = st.context.headers.get(settings.dashboard_user_header)
            if user:
                st.caption(f"Signed in through single sign-on as {user}.")
    if not rights.can_read:
        st.title("studentops")
        st.warning("This dashboard needs an access key: type it in the sidebar.")
        return
    page.run()


main()
