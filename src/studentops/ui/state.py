"""What every page shares: settings, the chosen profile, the visitor's rights, cached models.

Streamlit re-runs a page's script on every click, so anything slow is cached here: the
champion's Predictor per (registry, profile, version) for the server's lifetime (loading one
compiles its scorer: seconds), the list of profiles with models for a minute.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import streamlit as st

from studentops.config import Settings, load_settings
from studentops.errors import StudentOpsError
from studentops.ui.access import Access, access_for

if TYPE_CHECKING:
    from studentops.serving.predictor import Predictor

PROFILE = "profile"
KEY = "access_key"


def settings() -> Settings:
    """The settings, loaded afresh on every run of a page (environment and ``.env``)."""
    return load_settings()


def open_page(title: str) -> tuple[Settings, str]:
    """Show a page's title and return the settings and the profile chosen in the sidebar.

    Stops the page (``st.stop()``) with a note when no profile is chosen yet, so every page
    can rely on a profile name after this call.
    """
    s = settings()
    profile_name = chosen_profile()
    st.title(title)
    if not profile_name:
        note("Choose a profile in the sidebar.")
        st.stop()
    return s, profile_name


def profile_choices(s: Settings) -> list[str]:
    """The served profile (``serve_profile``) first, then profiles with a saved risk list
    (newest first), then every other known profile.

    The registry is not asked here: importing MLflow costs seconds, and the risk list must
    open without it."""
    from studentops.datasets.profile import builtin_profile_names

    found: list[tuple[float, str]] = []
    folder = s.home / "dashboard"
    if folder.is_dir():
        for sub in folder.iterdir():
            lists = sorted((sub / "batches").glob("*.parquet")) if sub.is_dir() else []
            if lists:
                found.append((lists[-1].stat().st_mtime, sub.name))
    names = [s.serve_profile] if s.serve_profile else []
    names += [name for _, name in sorted(found, reverse=True)]
    if s.profiles_dir and s.profiles_dir.is_dir():
        names += sorted(p.stem for p in s.profiles_dir.glob("*.y*ml"))
    names += builtin_profile_names()
    return list(dict.fromkeys(names))


def chosen_profile() -> str | None:
    """The profile chosen in the sidebar for this session, or None."""
    return st.session_state.get(PROFILE)


def access(s: Settings) -> Access:
    """What the visitor may do, from the access key entered in the sidebar."""
    return access_for(s, st.session_state.get(KEY))


@st.cache_resource(show_spinner="Loading the model...", max_entries=4)
def _predictor(tracking: str, profile: str, version: str) -> Predictor:
    from studentops.serving.batch import load_predictor

    return load_predictor(profile, settings())


def predictor(s: Settings, profile: str) -> tuple[Predictor | None, str]:
    """The champion's Predictor, or (None, why not) in words."""
    from studentops.registry.store import champion_version

    try:
        version = champion_version(profile, s)
        if version is None:
            return None, (
                f"No model is in use for '{profile}' yet: train one and promote it "
                f"(studentops train --profile {profile}; studentops promote --profile {profile})."
            )
        return _predictor(s.mlflow_tracking_uri, profile, version), ""
    except StudentOpsError as exc:
        return None, str(exc)


def show_error(exc: Exception) -> None:
    """A user's mistake as one readable line (never a traceback)."""
    st.error(str(exc), icon=":material/error:")


def note(text: str) -> None:
    """Show an information note (the pages' "no data yet" and hints)."""
    st.info(text, icon=":material/info:")


def remember(name: str, value: Any) -> None:
    """Keep ``value`` under ``name`` for this visitor's session."""
    st.session_state[name] = value
