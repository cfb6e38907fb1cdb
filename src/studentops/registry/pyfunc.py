"""The logged model: a ``mlflow.pyfunc.PythonModel`` around a fitted ``StudentModel``.

One artifact takes raw profile columns and does all preprocessing itself, because the
StudentModel carries the whole fitted pipeline. It is pickled with cloudpickle (the pyfunc
default) instead of MLflow's sklearn flavour, whose skops format in MLflow 3.17 refuses
LightGBM types unless each is trusted by hand. Unpickling needs ``studentops`` installed, which
the model's requirements pin.

Importing this module imports MLflow, so only code that logs or unpickles a model imports it.
"""

from __future__ import annotations

import logging
import warnings
from importlib import metadata
from typing import TYPE_CHECKING, Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.pyfunc.model import PythonModel

from studentops.datasets.profile import Profile, category_key

if TYPE_CHECKING:
    from mlflow.models import ModelSignature
    from mlflow.models.model import ModelInfo as MlflowModelInfo

# What the pickled model needs at load time, pinned to the versions that trained it.
_RUNTIME_PACKAGES = (
    "mlflow",
    "cloudpickle",
    "numpy",
    "pandas",
    "scikit-learn",
    "scipy",
    "lightgbm",
    "xgboost",
    "catboost",
    "imbalanced-learn",
    "pydantic",
    "pyyaml",
)


def proba_column(label: Any) -> str:
    """Output column of a class probability: ``proba_<label>`` (the class's label as text)."""
    return f"proba_{category_key(label)}"


def predict_frame(model: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """What the pyfunc returns: ``prediction``, one ``proba_<label>`` per class, ``risk_score``.

    Classes are named by their labels in the profile (``Profile.class_labels``: ``F``, not
    ``4``), as the API, ``studentops score``, the CSV endpoint and the stream results name them;
    (n_rows, 2 + n_classes) for a classifier, ``prediction`` and ``risk_score`` (when the
    profile sets ``at_risk_below``) for a regression.

    Every cell is judged by the data contract (:mod:`studentops.datasets.contract`), as
    ``validate``, ``score`` and the API judge it, so 3, 3.0 and "3" score alike and ``true`` is
    no number here either. Rows with a refused cell are not scored: their outputs are missing
    and two more columns say why (``status`` ``rejected`` and ``errors``, as in the API's CSV
    answer); these columns appear only when some row was refused. Feature columns absent from
    ``frame`` count as missing (the signature marks nullable columns optional).
    """
    from studentops.datasets.contract import judge_column, profile_rules

    profile: Profile = model.profile
    frame = frame.reset_index(drop=True)
    typed: dict[str, pd.Series] = {}
    errors: list[list[str]] = [[] for _ in range(len(frame))]
    for name, rule in profile_rules(profile, profile.feature_columns).items():
        raw = frame[name] if name in frame.columns else pd.Series(None, index=frame.index)
        verdict = judge_column(raw.astype(object), rule)
        typed[name] = verdict.values
        reasons = verdict.reasons.to_numpy(dtype=object)
        for i in np.flatnonzero(pd.notna(reasons)):
            errors[i].append(f"{name}: {reasons[i]}")
    rejected = np.array([bool(e) for e in errors], dtype=bool)
    clean = pd.DataFrame(typed, index=frame.index)[~rejected]
    out = pd.DataFrame(index=frame.index)
    if profile.task == "regression":
        out["prediction"] = np.nan
        if len(clean):
            out.loc[clean.index, "prediction"] = np.asarray(model.predict_value(clean), float)
    else:
        labels = profile.class_labels(model.classes_)
        label_of = {category_key(c): label for c, label in zip(model.classes_, labels, strict=True)}
        out["prediction"] = pd.Series(None, index=frame.index, dtype=object)
        proba = np.full((len(frame), len(model.classes_)), np.nan)
        if len(clean):
            out.loc[clean.index, "prediction"] = pd.Series(
                [label_of[category_key(c)] for c in model.predict(clean)],
                index=clean.index,
                dtype=object,
            )
            proba[~rejected] = np.asarray(model.predict_proba(clean), dtype=float)
        for j, label in enumerate(labels):
            out[proba_column(label)] = proba[:, j]
    risk = np.full(len(frame), np.nan)
    if len(clean):
        scored = model.risk_score(clean)
        if scored is not None:
            risk[~rejected] = np.asarray(scored, dtype=float)
    if profile.task != "regression" or profile.target.at_risk_below is not None:
        out["risk_score"] = risk
    if rejected.any():
        out["status"] = np.where(rejected, "rejected", "ok")
        out["errors"] = ["; ".join(e) for e in errors]
    return out


class StudentPyfunc(PythonModel):
    """MLflow face of a StudentModel. Serving unwraps it and uses ``.model`` directly."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Predict for raw profile columns (MLflow's pyfunc API).

        Args:
            context: MLflow's model context (unused: the model is in the pickle).
            model_input: shape ``(n_rows, n_columns)``, raw profile columns (a dict or list of
                records is turned into a frame first).
            params: unused (MLflow's signature).

        Returns:
            Shape ``(n_rows, k)``: ``prediction`` (a class label), one ``proba_<label>`` column
            per class (the profile's labels), ``risk_score`` (0..1), and ``status``/``errors``
            when a row was refused (see :func:`predict_frame`).
        """
        if not isinstance(model_input, pd.DataFrame):
            model_input = pd.DataFrame(model_input)
        return predict_frame(self.model, model_input)


def input_schema(profile: Profile) -> Any:
    """Model input: the profile's feature columns, nullable ones optional.

    Categories whose values are all text are ``string`` and datetimes ``datetime``; the rest is
    ``Any``. MLflow refuses int64 for a ``double`` column (and float64 for a ``long`` one), yet
    clients send 3 as often as 3.0 and coded categories as 1 or "1"; the model coerces these
    itself (:func:`predict_frame`), so the signature names columns rather than policing types.
    """
    from mlflow.types.schema import AnyType, ColSpec, Schema

    specs: list[Any] = []
    for name in profile.feature_columns:
        col = profile.columns[name]
        kind: Any = AnyType()
        if col.type == "datetime":
            kind = "datetime"
        elif col.type == "category" and all(isinstance(c, str) for c in col.categories or []):
            kind = "string"
        specs.append(ColSpec(kind, name, required=not col.nullable))
    return Schema(specs)


def model_signature(
    profile: Profile, example_input: pd.DataFrame, example_output: pd.DataFrame
) -> ModelSignature:
    """Inputs from the profile (not inferred from a few rows); outputs inferred from a sample."""
    from mlflow.models import ModelSignature, infer_signature

    outputs = infer_signature(example_input, example_output).outputs
    return ModelSignature(inputs=input_schema(profile), outputs=outputs)


def input_example(frame: pd.DataFrame, profile: Profile, rows: int = 3) -> pd.DataFrame:
    """A few complete rows of feature columns (rows without gaps serialise cleanly to JSON)."""
    features = frame.head(1000).reindex(columns=profile.feature_columns)  # no copy of big frames
    complete = features.dropna()
    chosen = complete if len(complete) >= 1 else features
    example = chosen.head(rows).reset_index(drop=True)
    # Coded categories stay as their profile values; object columns of numbers become numbers.
    return example.infer_objects()


def pip_requirements() -> list[str]:
    """Pinned requirements of the installed runtime, so MLflow need not infer them (slow)."""
    out = []
    for package in (*_RUNTIME_PACKAGES, "studentops"):
        try:
            out.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    return out


def log_student_model(model: Any, example: pd.DataFrame, *, name: str = "model") -> MlflowModelInfo:
    """Log ``model`` as a pyfunc in the active run, with signature and input example.

    Returns:
        MLflow's ModelInfo; ``model_uri`` (``models:/<model_id>``) is what gets registered.
    """
    profile: Profile = model.profile
    output = predict_frame(model, example)
    quiet = _DropMessage("Passing a Python object as `python_model`")
    pyfunc_log = logging.getLogger("mlflow.pyfunc")
    # MLflow infers a schema from the example only to warn that integer columns cannot hold
    # missing values; our signature is declared from the profile, so the hint does not apply.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        pyfunc_log.addFilter(quiet)
        try:
            return mlflow.pyfunc.log_model(
                name=name,
                python_model=StudentPyfunc(model),
                signature=model_signature(profile, example, output),
                input_example=example,
                pip_requirements=pip_requirements(),
                tags={"studentops.profile": profile.name, "studentops.task": profile.task},
            )
        finally:
            pyfunc_log.removeFilter(quiet)


class _DropMessage(logging.Filter):
    """Hide MLflow's warning about pickling a Python object: we chose cloudpickle on purpose."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefix)
