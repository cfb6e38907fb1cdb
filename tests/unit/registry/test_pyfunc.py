"""The logged artifact: one pyfunc that takes raw profile columns, with signature and example."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from studentops.config import Settings
from studentops.datasets.profile import Profile
from studentops.errors import ModelError
from studentops.registry import models, store
from studentops.registry.pyfunc import input_schema, predict_frame
from studentops.tracking import client_for

from .toy import make_toy_frame


def test_round_trip_probabilities_signature_and_metadata(
    settings: Settings,
    toy_profile: Profile,
    toy_valid: pd.DataFrame,
    logged_version: Callable[..., str],
) -> None:
    import mlflow.pyfunc

    version = logged_version(score=0.8)
    uri = f"models:/{models.registered_model_name(toy_profile.name)}@challenger"
    model, info = store.load_student_model(uri, settings)
    assert (info.version, info.metric, info.score) == (version, "roc_auc", 0.8)
    assert info.metrics["accuracy"] == 0.75 and info.profile.name == toy_profile.name
    assert info.run_id and info.uri.endswith(f"/{version}")

    pyfunc = mlflow.pyfunc.load_model(info.uri)
    assert pyfunc.unwrap_python_model().model.classes_ == model.classes_
    rows = toy_valid.head(50)
    out = pyfunc.predict(rows[toy_profile.feature_columns])
    expected = model.predict_proba(rows)
    got = out[[f"proba_{c}" for c in model.classes_]].to_numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    assert list(out.columns) == ["prediction", "proba_no", "proba_yes", "risk_score"]
    assert out["prediction"].tolist() == list(model.predict(rows))

    signature = pyfunc.metadata.signature
    assert signature is not None
    assert signature.inputs.input_names() == toy_profile.feature_columns
    assert "gender" not in signature.inputs.input_names()  # sensitive, not a feature
    assert set(signature.outputs.input_names()) == set(out.columns)
    assert pyfunc.metadata.saved_input_example_info is not None


def test_pyfunc_accepts_json_like_rows_and_missing_optional_columns(
    settings: Settings, toy_profile: Profile, logged_version: Callable[..., str]
) -> None:
    import mlflow.pyfunc

    logged_version()
    name = models.registered_model_name(toy_profile.name)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{name}/1")
    # As a JSON client sends it: integers for numbers, no optional 'grade', extra columns.
    rows = pd.DataFrame(
        [
            {"age": 20, "attendance": 0.1, "course": "law", "scholarship": 0, "student_id": 7},
            {"age": 31, "attendance": 0.95, "course": "arts", "scholarship": 1, "student_id": 8},
        ]
    )
    out = pyfunc.predict(rows)
    assert len(out) == 2 and out["risk_score"].between(0, 1).all()
    assert out["risk_score"][0] > out["risk_score"][1]


def test_schema_marks_nullable_columns_optional(toy_profile: Profile) -> None:
    specs = {c.name: c for c in input_schema(toy_profile).inputs}
    assert specs["grade"].required is False and specs["age"].required is True
    assert specs["course"].type.name == "string"
    assert repr(specs["scholarship"].type) == "Any" and repr(specs["age"].type) == "Any"


def test_regression_output_is_value_and_risk(toy_regressor: Any) -> None:
    rows = make_toy_frame(30, seed=11).drop(columns=["grade", "dropout"])
    out = predict_frame(toy_regressor, rows)
    assert list(out.columns) == ["prediction", "risk_score"]
    np.testing.assert_allclose(out["prediction"], toy_regressor.predict_value(rows), atol=1e-9)
    np.testing.assert_allclose(out["risk_score"], toy_regressor.risk_score(rows), atol=1e-9)


def test_champion_poll_and_load(
    settings: Settings, toy_profile: Profile, logged_version: Callable[..., str]
) -> None:
    assert store.champion_version(toy_profile.name, settings) is None
    with pytest.raises(ModelError, match="champion"):
        store.load_champion(toy_profile.name, settings)
    version = logged_version()
    models.promote(client_for(settings), toy_profile.name, margin=0.0, max_gap=0.2)
    assert store.champion_version(toy_profile.name, settings) == version
    model, info = store.load_champion(toy_profile.name, settings)
    assert info.version == version and "champion" in info.aliases
    assert model.profile.name == toy_profile.name


def test_logged_model_names_classes_by_their_labels(
    settings: Settings, toy_profile: Profile, toy_valid: pd.DataFrame, toy_model: Any
) -> None:
    """Item 4 of issue 19: the MLflow model answers in labels, as the API and files do."""
    import copy

    import mlflow
    import mlflow.pyfunc

    from studentops import tracking
    from studentops.registry.pyfunc import input_example, log_student_model
    from studentops.serving.predictor import ModelInfo, Predictor

    labelled = copy.copy(toy_model)
    target = toy_profile.target.model_copy(update={"labels": {"yes": "drops out", "no": "stays"}})
    labelled.profile = toy_profile.model_copy(update={"target": target})
    client = tracking.client_for(settings)
    experiment = tracking.ensure_experiment(client, toy_profile.name, settings)
    with mlflow.start_run(experiment_id=experiment):
        info = log_student_model(labelled, input_example(toy_valid, toy_profile))
    rows = toy_valid.head(40)[toy_profile.feature_columns]
    out = mlflow.pyfunc.load_model(info.model_uri).predict(rows)

    assert set(out["prediction"]) <= {"drops out", "stays"} and out["prediction"].nunique() == 2
    api = Predictor(labelled, ModelInfo("toy", "1", toy_profile.name), fast=False)
    answers = api.predict_records(rows.to_dict("records"))
    assert out["prediction"].tolist() == [a["prediction"] for a in answers]
    for label in ("drops out", "stays"):
        got = [a["probabilities"][label] for a in answers]
        np.testing.assert_allclose(out[f"proba_{label}"], got, rtol=0, atol=1e-9)
    assert [c for c in out.columns if c.startswith("proba_")] == [
        f"proba_{label}" for label in api.class_labels
    ]
