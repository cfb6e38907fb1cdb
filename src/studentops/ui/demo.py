"""The dashboard's part of ``make demo``: save the scored term as a risk list, say how to look."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from studentops.config import Settings

if TYPE_CHECKING:
    from studentops.serving.predictor import Predictor


def demo_dashboard(settings: Settings, predictor: Predictor, scored_input: Path) -> str:
    """Save ``scored_input`` (students of the new term) as the profile's latest risk list
    and return the line that says how to open it."""
    from studentops.datasets.loading import read_table
    from studentops.ui.risklist import save_list, score_table

    risk_list = score_table(
        predictor,
        read_table(scored_input),
        reasons_rows=settings.dashboard_reasons_rows,
        source=scored_input.name,
    )
    save_list(settings, risk_list)
    local = Path(sys.executable).absolute().with_name("studentops")  # the venv's, any folder
    command = str(local) if local.exists() else "studentops"
    return (
        f"Dashboard:  STUDENTOPS_HOME={settings.home.resolve()} {command} dashboard  (then open "
        f"http://127.0.0.1:{settings.dashboard_port}: the risk list of "
        f"{risk_list.info.accepted:,} students is there)"
    )
