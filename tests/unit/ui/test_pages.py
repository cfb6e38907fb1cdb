"""Each page's logic through Streamlit's AppTest (no browser): filters, what-if, gated buttons.

The app reads its settings from the environment, so each test points ``STUDENTOPS_HOME`` at
the trained state (or a copy, when the registry changes).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from studentops.ui import risklist

from .conftest import PROFILE

APP = Path(risklist.__file__).with_name("app.py")
VIEWS = APP.parent / "views"
pytestmark = pytest.mark.slow


def _app() -> Any:
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(APP), default_timeout=180)


def _texts(at: Any) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += (
        [i.value for i in at.info] + [w.value for w in at.warning] + [s.value for s in at.success]
    )
    return "\n".join(str(p) for p in parts)


def _ok(at: Any) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _with_list(use_home: Any, home: Path, scored: Any, **env: str) -> Any:
    settings = use_home(home, **env)
    risklist.save_list(settings, scored)
    return settings


def test_risk_list_filters_by_band_and_group(use_home: Any, home_copy: Path, scored: Any) -> None:
    _with_list(use_home, home_copy, scored)
    at = _app().run()
    _ok(at)
    assert at.sidebar.selectbox(key="profile").value == PROFILE
    shown = at.dataframe[0].value
    assert len(shown) == len(scored.table)
    assert shown["student"].tolist() == scored.table["student"].tolist()  # ranked
    assert "300 students shown" in at.subheader[0].value

    at.multiselect(key="bands").set_value(["high"]).run()
    _ok(at)
    high = at.dataframe[0].value
    assert len(high) == int((scored.table["band"] == "high").sum())
    assert set(high["band"]) <= {"high"}

    at.multiselect(key="bands").set_value(["high", "medium", "low"])
    at.selectbox(key="group_by").set_value("Tutoring").run()
    _ok(at)
    at.multiselect(key="groups").set_value(["yes"]).run()
    _ok(at)
    grouped = at.dataframe[0].value
    assert set(grouped["Tutoring"]) == {"yes"}
    assert 0 < len(grouped) < len(scored.table)


def test_risk_list_without_a_list_says_what_to_do(use_home: Any, tmp_path: Path) -> None:
    use_home(tmp_path / "empty")
    at = _app().run()
    _ok(at)
    assert "No risk list yet" in _texts(at)
    assert not at.dataframe


def test_locked_dashboard_asks_for_a_key(use_home: Any, tmp_path: Path, scored: Any) -> None:
    _with_list(use_home, tmp_path / "locked", scored, require_api_key="true", api_keys='["reader"]')
    at = _app().run()
    assert "needs an access key" in _texts(at) and not at.dataframe
    at.sidebar.text_input(key="access_key").set_value("wrong").run()
    assert not at.dataframe
    at.sidebar.text_input(key="access_key").set_value("reader").run()
    _ok(at)
    assert len(at.dataframe[0].value) == len(scored.table)


def test_student_page_reasons_and_what_if(use_home: Any, home_copy: Path, scored: Any) -> None:
    _with_list(use_home, home_copy, scored)
    at = _app().run()
    at.switch_page(str(VIEWS / "student.py")).run()
    _ok(at)
    first = scored.table.iloc[0]
    assert at.selectbox(key="student_pick").value == first["student"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Risk"] == f"{first['risk_pct']:.1f}%"
    assert metrics["Band"] == risklist.BAND_WORDS[first["band"]]
    assert "Raises the risk" in _texts(at) or "Lowers the risk" in _texts(at)
    keys = {w.key for w in [*at.number_input, *at.selectbox]}
    assert "whatif_Absences" in keys and "whatif_StudyTimeWeekly" in keys
    assert not {"whatif_Gender", "whatif_Ethnicity"} & keys  # never a lever

    absences = at.number_input(key="whatif_Absences")
    absences.set_value(0 if absences.value > 0 else 25)
    at.button[0].click().run()
    _ok(at)
    after = next(m for m in at.metric if m.label == "Risk with these answers")
    assert "percentage points" in after.delta
    assert "Changed: Absences" in _texts(at)


def _second_version(home: Path, better: bool) -> str:
    from studentops import tracking
    from studentops.config import load_settings
    from studentops.registry import models

    settings = load_settings()
    client = tracking.client_for(settings)
    champion = models.version_by_alias(client, models.registered_model_name(PROFILE), "champion")
    assert champion is not None and champion.metric is not None
    bump = 0.05 if better else -0.05
    metrics = dict(champion.test_metrics)
    metrics[champion.metric] = metrics[champion.metric] + bump
    version = models.register_challenger(
        client,
        PROFILE,
        str(champion.source),
        run_id=champion.run_id,
        metric=champion.metric,
        test_metrics=metrics,
        fairness_gap=champion.fairness_gap,
        algorithm=champion.algorithm,
    )
    return version.version


def test_models_page_hides_admin_actions_without_an_admin_key(
    use_home: Any, home_copy: Path
) -> None:
    use_home(home_copy)
    at = _app().run()
    at.sidebar.selectbox(key="profile").set_value(PROFILE)
    at.switch_page(str(VIEWS / "models.py")).run()
    _ok(at)
    assert "champion" in " ".join(at.dataframe[0].value["aliases"])
    assert not [b for b in at.button if b.key in ("promote", "rollback")]
    assert "no admin keys are configured" in _texts(at)
    assert len(at.tabs) == 6


def test_models_page_promotes_through_the_gates_with_an_admin_key(
    use_home: Any, home_copy: Path
) -> None:
    use_home(home_copy, admin_keys='["boss"]', fairness_max_gap="1.0")
    worse = _second_version(home_copy, better=False)
    at = _app().run()
    at.sidebar.selectbox(key="profile").set_value(PROFILE)
    at.switch_page(str(VIEWS / "models.py")).run()
    at.sidebar.text_input(key="access_key").set_value("not-the-key").run()
    assert not [b for b in at.button if b.key == "promote"]
    assert "Type an admin key" in _texts(at)

    at.sidebar.text_input(key="access_key").set_value("boss").run()
    _ok(at)
    at.button(key="promote").click().run()
    _ok(at)
    assert f"Version {worse} stays challenger" in _texts(at)
    assert "FAIL" in _texts(at)  # the score gate, with its figures

    better = _second_version(home_copy, better=True)
    at.button(key="promote").click().run()
    _ok(at)
    assert f"Version {better} is now the champion" in _texts(at)
    at.button(key="rollback").click().run()
    _ok(at)
    assert f"is the champion again (was {better})" in _texts(at)


def test_monitoring_page_says_no_data_yet_then_plots_checks(use_home: Any, home_copy: Path) -> None:
    from studentops.databases import with_installed_driver
    from studentops.monitoring.results import (
        CheckResult,
        DatasetVerdict,
        FeatureDrift,
        MetricValue,
    )
    from studentops.monitoring.store import MonitorStore

    settings = use_home(home_copy)
    at = _app().run()
    at.sidebar.selectbox(key="profile").set_value(PROFILE)
    at.switch_page(str(VIEWS / "monitoring.py")).run()
    _ok(at)
    assert _texts(at).count("No data yet") == 5

    report = home_copy / "report.html"
    report.write_text("<html><body><h1>Drift report</h1></body></html>", encoding="utf-8")
    with MonitorStore(with_installed_driver(settings.prediction_log)) as store:
        for day, value in ((1, 0.05), (8, 0.4)):
            now = dt.datetime(2026, 1, day, tzinfo=dt.UTC)
            store.write_check(
                CheckResult(
                    profile=PROFILE,
                    model_name="m",
                    model_version="1",
                    kind="full",
                    started_at=now,
                    n_rows=500,
                    verdict=DatasetVerdict(
                        status="drift" if value > 0.2 else "ok", n_rows=500, min_rows=100
                    ),
                    features=[FeatureDrift("Absences", "numeric", "psi", value, 0.2, value > 0.2)],
                    metrics=[MetricValue("recall", 0.8 - value, 100, "1")],
                    report_html=str(report),
                )
            )
    at.run()
    _ok(at)
    assert _texts(at).count("No data yet") == 2  # no predictions logged, no alerts
    assert "Latest check:** DRIFT" in _texts(at)
    assert at.dataframe[0].value["feature"].tolist() == ["Absences"]
    assert any("Report of" in b.label for b in at.get("download_button"))
