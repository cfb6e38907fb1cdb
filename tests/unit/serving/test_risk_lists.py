"""Risk lists people can act on: a rank without ties, bands that follow the decision, labels."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from studentops.datasets.profile import builtin_profile_names, load_profile
from studentops.datasets.synthetic import generate_cohort
from studentops.datasets.validation import validate
from studentops.serving.bands import RiskBands
from studentops.serving.batch import score_frame, top_risk_students
from studentops.serving.predictor import RANK_RESOLUTION, ModelInfo, Predictor

from ..training.synthetic import quick_model

# The quickest member kinds that still show each profile's behaviour: a derived regression of
# GPA, whose class-conditional label noise alone saturated P(D or F) at one ceiling and tied
# 1,275 students.
ALGORITHMS = {
    "student-performance": ("derived:ridge",),
    "exams-math": ("ridge",),
}


def _cohort(name: str, rows: int, seed: int) -> tuple[Any, pd.DataFrame]:
    profile = load_profile(name)
    frame = generate_cohort(profile, rows=rows, seed=seed)
    result = validate(frame, profile)
    return profile, result.valid


def _predictor(name: str, rows: int = 600, bands: RiskBands | None = None) -> Predictor:
    profile, frame = _cohort(name, rows, seed=1)
    model = quick_model(profile, frame, ALGORITHMS.get(name, ("logistic_regression",)))
    return Predictor(model, ModelInfo(f"studentops-{name}", "1", name), bands, fast=False)


@pytest.fixture(scope="module")
def grades() -> Predictor:
    return _predictor("student-performance", rows=800)


def test_top_100_of_a_generated_cohort_are_strictly_ordered(grades: Predictor) -> None:
    frame = generate_cohort(grades.profile, rows=2500, seed=7)
    scored, _, scores = score_frame(grades, frame)
    assert scores is not None
    # the risk itself ranks: no two of the top 100 share a risk (the label noise depends on the
    # distance to the class edge, and the model's noise follows it) ...
    step = np.round(scored["risk_score"].to_numpy()[:100] / RANK_RESOLUTION)
    assert all(a > b for a, b in itertools.pairwise(step))
    assert scored["risk_score"].head(100).is_monotonic_decreasing
    # ... and the rank is (risk, log-odds) strictly decreasing, integers from 1
    top = scored.head(100)
    keys = list(zip(step, top["risk_log_odds"], strict=True))
    assert all(a > b for a, b in itertools.pairwise(keys))
    assert top["rank"].tolist() == list(range(1, 101))
    assert str(scored["rank"].dtype) == "Int64"


def test_a_saturated_risk_still_ranks_by_the_log_odds(grades: Predictor) -> None:
    """With class-conditional label noise alone (models trained before the boundary noise,
    or data whose noise does not depend on the distance), P(D or F) has a ceiling that many
    students share; the model's log-odds before the noise still orders them."""
    import copy

    model = copy.deepcopy(grades.model)
    for member in model.members:
        if member.bins is not None:
            member.bins.scale, member.bins.mix = 0.0, 1.0
    flat = Predictor(model, grades.info, grades.bands, fast=False)
    scored, _, _ = score_frame(flat, generate_cohort(grades.profile, rows=2500, seed=7))
    step = np.round(scored["risk_score"].to_numpy()[:100] / RANK_RESOLUTION)
    assert (step == step[0]).sum() > 10
    keys = list(zip(step, scored["risk_log_odds"].head(100), strict=True))
    assert all(a > b for a, b in itertools.pairwise(keys))


def test_the_same_inputs_tie_and_only_they(grades: Predictor) -> None:
    frame = generate_cohort(grades.profile, rows=50, seed=8)
    twin = frame.iloc[[0]].assign(StudentID=10_000)  # another student, the same inputs
    frame = pd.concat([frame, twin], ignore_index=True)
    scored, _, _ = score_frame(grades, frame)
    twins = scored[scored["StudentID"].isin([frame.loc[0, "StudentID"], 10_000])]
    assert len(twins) == 2 and twins["risk_log_odds"].nunique() == 1
    assert scored["risk_log_odds"].nunique() == len(scored) - 1


MODES = (
    RiskBands(mode="cutoffs"),
    RiskBands(mode="shares"),
    RiskBands(mode="capacity", capacity=25),
)


@pytest.mark.parametrize("name", builtin_profile_names())
def test_a_student_predicted_at_risk_is_in_the_top_band(name: str) -> None:
    """On every seed profile and under every band rule: a student the model calls at risk is
    high, or (shares, capacity) medium with a reason that says why; under the default rule
    (cut-offs) always high."""
    predictor = _predictor(name, rows=400)
    frame = generate_cohort(predictor.profile, rows=400, seed=3)
    _, result, scores = score_frame(predictor, frame)
    assert scores is not None and scores.at_risk is not None
    assert scores.at_risk.any(), "the cohort should hold students predicted at risk"
    # single answers (one JSON record, one stream event): high in every mode
    for bands in MODES:
        single = Predictor(predictor.model, predictor.info, bands, fast=False)
        answers = single.answers(scores, [None] * len(scores.risk))
        bands_of = [a["risk_band"] for a in answers]
        assert all(b == "high" for b, r in zip(bands_of, scores.at_risk, strict=True) if r)
        assert "predicted" in single.band_rule()
    # ranked lists: the decision, seen from the labels of the file
    risky = {predictor.class_labels[i] for i in predictor._risky}
    for bands in MODES:
        ranked = Predictor(predictor.model, predictor.info, bands, fast=False)
        scored, _, _ = score_frame(ranked, frame)
        if predictor.task == "regression":
            flagged = scored["prediction"].astype(float) < predictor.profile.target.at_risk_below
        else:
            flagged = scored["prediction"].isin(risky)
        assert flagged.sum() == scores.at_risk.sum() == result.accepted - (~flagged).sum()
        high = scored["risk_band"] == "high"
        explained = scored["band_reason"].fillna("").str.startswith("predicted at risk, but rank")
        assert (high | explained)[flagged].all(), bands.mode
        assert (scored.loc[flagged & ~high, "risk_band"] == "medium").all()
        assert not explained[~flagged].any() and not (explained & high).any()
        if bands.mode == "cutoffs":
            assert high[flagged].all()
        if bands.mode == "capacity":
            assert high.sum() == min(25, len(scored))
    # the default rule: everyone predicted at risk is high, in every list (issue 19, done when)
    default = Predictor(predictor.model, predictor.info, RiskBands(), fast=False)
    scored, _, _ = score_frame(default, frame)
    flagged = (
        scored["prediction"].astype(float) < predictor.profile.target.at_risk_below
        if predictor.task == "regression"
        else scored["prediction"].isin(risky)
    )
    assert (scored.loc[flagged, "risk_band"] == "high").all()
    assert scored["band_reason"].isna().all()


def test_bands_by_share_and_capacity_say_why_an_at_risk_student_is_not_high() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
    order = np.argsort(-scores)
    at_risk = scores >= 0.5
    shares = RiskBands(mode="shares", high_share=0.2, medium_share=0.3)
    bands, reasons = shares.list_bands(scores, order, at_risk)
    assert bands.tolist() == ["high"] * 2 + ["medium"] * 3 + ["low"] * 5
    assert reasons[3] == "predicted at risk, but rank 4 is beyond the top 20% of 10"
    assert reasons[0] is None and reasons[6] is None
    capacity = RiskBands(mode="capacity", capacity=3, medium=0.35)
    bands, reasons = capacity.list_bands(scores, order, at_risk)
    assert bands.tolist() == ["high"] * 3 + ["medium"] * 3 + ["low"] * 4
    assert reasons[4] == "predicted at risk, but rank 5 is beyond the capacity of 3"
    assert "capacity" in capacity.rule("predicted Dropout")
    assert "Single predictions" in capacity.rule("predicted Dropout")


def test_files_speak_labels(grades: Predictor) -> None:
    frame = generate_cohort(grades.profile, rows=60, seed=9)
    scored, _, _ = score_frame(grades, frame, explain=False)
    assert set(scored["prediction"]) <= {"A", "B", "C", "D", "F"}
    assert [c for c in scored.columns if c.startswith("proba_")] == [
        f"proba_{g}" for g in ("A", "B", "C", "D", "F")
    ]
    top = top_risk_students(grades, frame, n=3)
    assert top[0]["prediction"] in ("D", "F")
    reasons = top[0]["reasons"]
    assert reasons["units"] == "percentage points of risk"
    coded = [r for r in reasons["up"] + reasons["down"] if r["feature"] in ("Tutoring", "Sports")]
    assert all(r["label"] in ("yes", "no") for r in coded)


def test_the_demo_list_names_unit_and_rule_and_ranks_ten_distinct(
    grades: Predictor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rich.console import Console

    from studentops import demo
    from studentops.config import Settings

    data = tmp_path / "new-term.csv"
    generate_cohort(grades.profile, rows=1500, seed=11).drop(columns=["GradeClass", "GPA"]).to_csv(
        data, index=False
    )
    console = Console(width=80, record=True)
    monkeypatch.setattr(demo, "console", console)
    top = demo.show_risk_list(grades, data)
    text = console.export_text()
    assert len(top) == 10 and [t["rank"] for t in top] == list(range(1, 11))
    assert len({round(t["risk_score"] / RANK_RESOLUTION) for t in top}) == 10  # ten risks
    assert all(t["prediction"] in ("D", "F") and t["risk_band"] == "high" for t in top)
    assert "pp = percentage points of risk" in text
    assert "Bands: high: predicted D or F" in text
    assert max(len(line) for line in text.splitlines()) <= 80
    reasons = [r for t in top for r in t["reasons"]["up"]]
    coded = [r for r in reasons if grades.profile.columns[r["feature"]].labels]
    assert coded and all(r["label"] is not None for r in coded)

    hint = demo.closing_hint(Settings(home=tmp_path / "state"), "student-performance")
    tools = [word for word in hint.split() if word.endswith(("/mlflow", "/studentops"))]
    assert len(tools) == 2 and all(Path(t).is_absolute() and Path(t).exists() for t in tools)
    assert f"STUDENTOPS_HOME={(tmp_path / 'state').resolve()}" in hint


def test_json_answers_and_stream_results_speak_labels_and_the_log_keeps_classes(
    grades: Predictor,
) -> None:
    from studentops.streaming.scoring import PredictorScorer

    frame = generate_cohort(grades.profile, rows=80, seed=12)
    records, ids = grades.validate(frame[grades.features].to_dict("records"))
    answers = grades.predict_records(records, ids)
    assert {a["prediction"] for a in answers} <= {"A", "B", "C", "D", "F"}
    assert list(answers[0]["probabilities"]) == ["A", "B", "C", "D", "F"]
    assert all(a["band_reason"] is None for a in answers)
    out = PredictorScorer(grades).score_batch(records)
    assert [o["prediction"] for o in out] == [a["prediction"] for a in answers]
    assert list(out[0]["probabilities"]) == ["A", "B", "C", "D", "F"]
    # the prediction log keeps class values, so outcomes (GradeClass 0-4) can be joined to it
    codes = {"A": 0, "B": 1, "C": 2, "D": 3, "F": 4}
    assert [o["logged_prediction"] for o in out] == [codes[o["prediction"]] for o in out]
    assert list(out[0]["logged_probabilities"]) == ["0", "1", "2", "3", "4"]


def test_capacity_bands_reach_the_file_and_the_prediction_log(
    tmp_path: Path, settings: Any
) -> None:
    from studentops.monitoring.predlog import read_predictions
    from studentops.serving.batch import score_file

    predictor = _predictor(
        "uci-dropout-binary", rows=400, bands=RiskBands(mode="capacity", capacity=5)
    )
    data = tmp_path / "in.csv"
    generate_cohort(predictor.profile, rows=120, seed=5).drop(columns=["Target"]).to_csv(
        data, sep=";", index=False
    )
    summary = score_file(
        "uci-dropout-binary", data, tmp_path / "out.csv", settings=settings,
        predictor=predictor,
    )  # fmt: skip
    scored = pd.read_csv(summary.out_path)
    assert (
        scored["risk_band"].head(5).eq("high").all() and (scored["risk_band"] == "high").sum() == 5
    )
    flagged = scored[(scored["prediction"] == "Dropout") & (scored["rank"] > 5)]
    assert len(flagged) and flagged["band_reason"].str.contains("beyond the capacity of 5").all()
    assert (flagged["risk_band"] == "medium").all()
    logged = read_predictions(settings.prediction_log)
    assert sorted(logged["risk_band"]) == sorted(scored["risk_band"])
    assert "capacity" in summary.band_rule


def test_the_demo_shows_risks_with_the_decimals_that_tell_them_apart() -> None:
    from studentops.demo import risk_digits

    assert risk_digits([0.91, 0.85, 0.7]) == 1
    assert risk_digits([0.958683, 0.958666, 0.958651, 0.958648]) == 4
    assert risk_digits([0.95, 0.95]) == 2  # saturated: equal at any precision


def test_small_contributions_keep_their_figures() -> None:
    from studentops.serving.batch import points, reason_text

    assert [points(v) for v in (12.34, 0.44, -0.028, 0.00031, 0.0, -3e-7)] == [
        "+12.3", "+0.4", "-0.028", "+0.0003", "+0.0", ">-0.0001",
    ]  # fmt: skip
    reason = {"feature": "Course", "value": 9500, "label": "Nursing", "contribution": 3.21}
    assert reason_text(reason) == "Course = Nursing (+3.2 pp)"


def test_a_model_pickled_before_the_output_keys_still_explains(grades: Predictor) -> None:
    import pickle

    state = grades.profile.__getstate__()
    state["__dict__"] = {k: v for k, v in state["__dict__"].items() if k != "feature_groups"}
    old = type(grades.profile).__new__(type(grades.profile))
    old.__setstate__(state)
    assert old.feature_groups == {}
    assert pickle.loads(pickle.dumps(old)).feature_groups == {}
