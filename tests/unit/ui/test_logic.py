"""The plain functions under the pages: risk lists, filters, counts, what-if, access, reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import SecretStr

from studentops.config import load_settings
from studentops.datasets.profile import category_key, load_profile
from studentops.errors import DataError
from studentops.serving.security import AuthError
from studentops.ui import access, modelview, risklist, whatif

from .conftest import PROFILE


def test_scored_list_is_ranked_with_bands_and_reasons_in_points(scored: Any) -> None:
    table = scored.table
    assert list(table.columns[:6]) == list(risklist.DISPLAY)
    assert scored.info.accepted == len(table) == 300 and scored.info.explained == 50
    # Highest risk first; risks within 0.01 points rank by the model's log-odds (issue 19).
    assert (np.diff(table["risk_score"].to_numpy()) <= 1e-4).all()
    assert table["rank"].tolist() == list(range(1, 301))
    assert set(table["band"]) <= set(risklist.BANDS)
    # Reasons for the first 50 only, each "feature value (+x.x pts)".
    assert table["why"].head(50).str.contains(r"\(\+\d+\.\d pts\)").all()
    assert (table["why"].iloc[50:] == "").all()
    # Predictions in the profile's labels, numbers typed.
    assert set(table["predicted"]) <= {"A", "B", "C", "D", "F"}
    assert pd.api.types.is_numeric_dtype(table["Absences"])


def test_rows_breaking_the_profile_are_counted_not_dropped(predictor: Any) -> None:
    from studentops.datasets.profile import load_profile
    from studentops.datasets.synthetic import generate_cohort

    frame = generate_cohort(load_profile(PROFILE), rows=40, seed=2).astype(object)
    frame.loc[3, "Absences"] = -5
    out = risklist.score_table(predictor, frame, reasons_rows=0)
    assert out.info.rows == 40 and out.info.accepted == 39 and out.info.rejected == 1
    assert out.rejects is not None and "Absences" in set(out.rejects["column"])


def test_no_valid_row_is_one_clear_error(predictor: Any, new_term: pd.DataFrame) -> None:
    frame = new_term.head(3).assign(Age=-1)
    with pytest.raises(DataError, match="no student could be scored"):
        risklist.score_table(predictor, frame)


def test_saved_list_round_trips_and_latest_wins(scored: Any, tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, config_file=tmp_path / "none.yaml")
    assert risklist.latest_list(settings, PROFILE) is None
    risklist.save_list(settings, scored)
    newer = risklist.RiskList(scored.table.head(10), scored.info.__class__(**scored.info.to_dict()))
    newer.info.scored_at += 5
    risklist.save_list(settings, newer)
    back = risklist.latest_list(settings, PROFILE)
    assert back is not None and len(back.table) == 10
    assert back.info.model_version == scored.info.model_version


def test_filters_keep_the_ranking_and_counts_cover_every_band(scored: Any) -> None:
    profile = load_profile(PROFILE)
    table = scored.table
    high = risklist.filter_list(table, ["high"])
    assert (high["band"] == "high").all() and high["rank"].is_monotonic_increasing
    assert len(risklist.filter_list(table, [])) == len(table)
    group = risklist.group_values(profile, table, "Tutoring")
    assert set(group) == {"yes", "no"}
    only_yes = risklist.filter_list(table, ["high", "medium"], group, ["yes"])
    tutored = table["Tutoring"].map(category_key) == "1"
    expected = table[table["band"].isin(["high", "medium"]) & tutored]
    assert only_yes["student"].tolist() == expected["student"].tolist()
    counts = risklist.band_counts(table)
    assert counts["band"].tolist() == ["high", "medium", "low"]
    assert counts["students"].sum() == len(table)
    by_group = risklist.band_counts(table, group)
    assert len(by_group) == 6 and by_group["students"].sum() == len(table)


def test_group_columns_never_offer_sensitive_attributes_or_ids(scored: Any) -> None:
    profile = load_profile(PROFILE)
    options = risklist.group_columns(profile, scored.table.assign(tutor_group="T1"))
    assert "Tutoring" in options and "ParentalSupport" in options
    assert not {"Gender", "Ethnicity", "StudentID", "student", "band"} & set(options)
    assert "tutor_group" not in options  # one value: nothing to group
    with_groups = scored.table.assign(tutor_group=np.arange(len(scored.table)) % 4)
    assert "tutor_group" in risklist.group_columns(profile, with_groups)


def test_values_and_reasons_read_in_words() -> None:
    profile = load_profile(PROFILE)
    assert risklist.value_text(profile, "ParentalSupport", "3") == "high"
    assert risklist.value_text(profile, "StudyTimeWeekly", "1.3881") == "1.4"
    assert risklist.value_text(profile, "Absences", None) == "missing"
    assert risklist.class_text(profile, 4) == "F"
    reasons = {
        "units": "risk",
        "up": [
            {"feature": "Absences", "value": 28, "label": None, "contribution": 0.021},
            {"feature": "Age", "value": 17, "label": None, "contribution": 0.0001},
        ],
        "down": [{"feature": "Tutoring", "value": 1, "label": "yes", "contribution": -0.05}],
    }
    assert risklist.reasons_text(profile, reasons) == "Absences 28 (+2.1 pts)"
    named = {
        "units": risklist.REASON_UNIT,
        "up": [{"feature": "Absences", "value": 28, "contribution": 2.1}],
    }  # contributions already in percentage points
    assert risklist.reasons_text(profile, named) == "Absences 28 (+2.1 pts)"
    frame = whatif.reasons_frame(profile, reasons)
    assert frame["reason"].tolist() == ["Tutoring = yes", "Absences = 28"]
    assert frame["points"].tolist() == [-5.0, 2.1]
    assert frame["effect"].tolist() == ["lowers the risk", "raises the risk"]


def test_what_if_moves_the_risk_and_refuses_sensitive_levers(predictor: Any, scored: Any) -> None:
    profile = predictor.profile
    names = [lever.name for lever in whatif.levers(profile, predictor.features)]
    assert "Absences" in names and not {"Gender", "Ethnicity"} & set(names)
    row = whatif.find_student(scored.table, scored.table["student"].iloc[0])
    assert row is not None
    record = whatif.student_record(row, predictor.features)
    fewer = whatif.what_if(predictor, record, {"Absences": 0})
    more = whatif.what_if(predictor, record, {"Absences": 29})
    assert fewer.before == pytest.approx(scored.table["risk_pct"].iloc[0] / 100, abs=1e-3)
    assert fewer.after != more.after
    assert fewer.delta_points == pytest.approx(100 * (fewer.after - fewer.before))
    with pytest.raises(DataError, match="sensitive"):
        whatif.what_if(predictor, record, {"Gender": 1})
    with pytest.raises(DataError, match="not one of the model's inputs"):
        whatif.what_if(predictor, record, {"GPA": 3.0})


def test_assess_gives_risk_band_and_reasons(predictor: Any, scored: Any) -> None:
    row = scored.table.iloc[0]
    found = whatif.assess(predictor, whatif.student_record(row, predictor.features))
    assert found["band"] == row["band"]
    assert found["risk"] == pytest.approx(row["risk_pct"] / 100, abs=1e-3)
    assert found["reasons"]["up"] or found["reasons"]["down"]


def test_access_follows_the_keys_in_settings(tmp_path: Path) -> None:
    open_settings = load_settings(home=tmp_path, config_file=tmp_path / "none.yaml")
    assert access.access_for(open_settings, None) == access.Access(True, False, "")
    assert not access.admin_enabled(open_settings)
    locked = open_settings.model_copy(
        update={
            "api_keys": [SecretStr("reader")],
            "admin_keys": [SecretStr("boss")],
            "require_api_key": True,
        }
    )
    assert not access.access_for(locked, None).can_read
    assert not access.access_for(locked, "wrong").can_read
    assert access.access_for(locked, "reader") == access.Access(True, False, "")
    assert access.access_for(locked, "boss").is_admin
    with pytest.raises(AuthError):
        access.require_admin(locked, "reader")
    with pytest.raises(AuthError, match="no admin keys"):
        access.require_admin(open_settings, "anything")


def test_reports_of_the_champion_are_read_back(trained_home: Path) -> None:
    settings = load_settings(home=trained_home, config_file=trained_home / "none.yaml")
    items = modelview.versions(settings, PROFILE)
    champion = next(v for v in items if "champion" in v.aliases)
    reports = modelview.load_reports(settings, champion.run_id)
    for name in ("metrics", "confusion_matrix", "roc_curve", "pr_curve", "calibration"):
        assert reports.get(name), name
    cm = modelview.confusion_frame(reports.get("confusion_matrix"))
    assert set(cm.columns) == {"true", "predicted", "students"} and cm["students"].sum() > 0
    roc = modelview.curve_frame(reports.get("roc_curve"), "fpr", "tpr")
    assert roc["fpr"].between(0, 1).all() and set(roc["class"]) <= {"A", "B", "C", "D", "F"}
    table = modelview.versions_table(items)
    assert table.loc[table["aliases"].str.contains("@champion"), "version"].tolist() == [
        int(champion.version)
    ]
    fairness = modelview.fairness_frame(reports.get("fairness") or {"attributes": {}})
    if not fairness.empty:
        assert {"attribute", "group", "students"} <= set(fairness.columns)
        assert set(fairness["attribute"]) <= {"Gender", "Ethnicity"}


def test_a_scored_upload_is_logged_pseudonymised(
    predictor: Any, new_term: Any, tmp_path: Path
) -> None:
    from studentops.monitoring.predlog import read_predictions

    settings = load_settings(home=tmp_path, config_file=tmp_path / "none.yaml")
    out = risklist.score_table(predictor, new_term.head(30), reasons_rows=0, log_to=settings)
    logged = read_predictions(settings.prediction_log)
    assert len(logged) == out.info.accepted == 30
    assert set(logged["source"]) == {"dashboard"}
    raw = {str(v) for v in new_term.head(30)["StudentID"]}
    assert not raw & set(logged["student_key"].astype(str))


def test_drift_chart_keeps_the_features_closest_to_their_alarm() -> None:
    from studentops.ui.monitorview import worst_features

    rows = [
        {"feature": f"f{i}", "value": 0.01 * i, "threshold": 0.2, "started_at": day}
        for i in range(12)
        for day in (1, 2)
    ]
    kept = worst_features(pd.DataFrame(rows), n=3)
    assert sorted(kept["feature"].unique()) == ["f10", "f11", "f9"]
    assert kept["ratio"].max() == pytest.approx(0.55)
    assert worst_features(pd.DataFrame(columns=["feature", "value", "threshold"])).empty


def test_dashboard_command_runs_streamlit_headless_on_the_chosen_interface() -> None:
    from studentops.ui.commands import APP, free_port, streamlit_command

    port = free_port("127.0.0.1")
    command = streamlit_command(APP, "127.0.0.1", port)
    assert command[1:5] == ["-m", "streamlit", "run", str(APP)] and APP.is_file()
    options = dict(zip(command[5::2], command[6::2], strict=True))
    assert options["--server.address"] == "127.0.0.1"
    assert options["--server.port"] == str(port) and 0 < port < 65536
    assert options["--server.headless"] == "true"
    assert options["--browser.gatherUsageStats"] == "false"
