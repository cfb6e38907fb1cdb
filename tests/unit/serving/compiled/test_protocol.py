"""The contract between a servable model and the compiled scorer is the protocol, and only it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from studentops.datasets.profile import load_profile
from studentops.features.encode import CodesOneHot, ProfileEncoder
from studentops.serving.compiled.protocol import CompilableEnsemble, EnsembleMember
from studentops.serving.compiled.scorer import TOLERANCE, compile_scorer
from studentops.serving.predictor import ModelInfo, Predictor
from studentops.training.model import Member, StudentModel

from ..standin import StandInModel


@dataclass
class PlainMember:
    """A member written against the protocol alone (no studentops type)."""

    algorithm: str
    estimators: list[Any]
    kind: str = "classifier"
    bins: None = None
    sigma: float = 0.0

    def proba(self, X: np.ndarray) -> np.ndarray:
        return np.mean([est.predict_proba(X) for est in self.estimators], axis=0)

    def output(self, X: np.ndarray) -> np.ndarray:
        return self.proba(X)


@dataclass
class PlainEnsemble:
    """An ensemble written against the protocol alone: no encoder, profile or class labels."""

    members: list[PlainMember]
    weights: list[float]
    task: str = "binary"
    classes_: list[Any] = field(default_factory=lambda: [0, 1])

    def predict_proba_matrix(self, X: np.ndarray) -> np.ndarray:
        return sum(w * m.proba(X) for m, w in zip(self.members, self.weights, strict=True))

    def predict_value_matrix(self, X: np.ndarray) -> np.ndarray:
        raise TypeError("a classifier has no values")


def _data(rows: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(rows, 4))
    X[:, 3] = rng.integers(0, 3, size=rows)  # a category code
    X[rng.random(X.shape) < 0.05] = np.nan
    y = (np.nan_to_num(X[:, 0]) + 0.5 * (X[:, 3] == 2) + rng.normal(size=rows) > 0).astype(int)
    return X, y


def test_a_model_with_only_the_protocol_is_compiled_and_proven() -> None:
    X, y = _data()
    folds = [np.arange(len(X)) % 2 != f for f in range(2)]
    forest = [
        RandomForestClassifier(n_estimators=6, max_depth=4, random_state=f).fit(
            np.nan_to_num(X[keep]), y[keep]
        )
        for f, keep in enumerate(folds)
    ]
    linear = [
        Pipeline(
            [
                ("onehot", CodesOneHot([3], [3])),
                ("impute", SimpleImputer(strategy="median")),
                ("scale", StandardScaler()),
                ("model", LogisticRegression(max_iter=300)),
            ]
        ).fit(X[keep], y[keep])
        for keep in folds
    ]
    model = PlainEnsemble(
        [PlainMember("random_forest", forest), PlainMember("logistic_regression", linear)],
        [0.6, 0.4],
    )
    assert isinstance(model, CompilableEnsemble)
    sample = np.nan_to_num(X[:40])  # the forest was fitted without NaN
    scorer = compile_scorer(model, sample)
    assert scorer is not None
    assert scorer.paths == ["compiled forest", "folded linear"]
    rows = np.nan_to_num(X[40:120])
    np.testing.assert_allclose(
        scorer(rows), model.predict_proba_matrix(rows), rtol=0, atol=TOLERANCE
    )


def test_student_model_and_its_members_meet_the_protocol() -> None:
    profile = load_profile("uci-dropout-binary")
    member = Member("logistic_regression", {}, [], "classifier", n_classes=2)
    model = StudentModel(
        profile=profile,
        encoder=ProfileEncoder(profile),
        members=[member],
        weights=[1.0],
        metric="roc_auc",
        cv_score=0.5,
    )
    assert isinstance(model, CompilableEnsemble)
    for name in [n for n in vars(EnsembleMember) if not n.startswith("_")]:
        assert hasattr(member, name), name


def test_a_model_without_members_is_served_without_the_compiled_scorer() -> None:
    profile = load_profile("uci-dropout-binary")
    model = StandInModel(profile)
    assert not isinstance(model, CompilableEnsemble)
    predictor = Predictor(model, ModelInfo("m", "1", profile.name), fast=True)  # type: ignore[arg-type]
    assert predictor.fast is None


CONFORMANCE = """
from studentops.serving.compiled.protocol import CompilableEnsemble, EnsembleMember
from studentops.training.model import Member, StudentModel


def as_ensemble(model: StudentModel) -> CompilableEnsemble:
    return model


def as_member(member: Member) -> EnsembleMember:
    return member


class NoWeights:
    members: list[Member] = []


def control(model: NoWeights) -> CompilableEnsemble:
    return model  # the one error expected: proves mypy resolved the real types
"""


def test_student_model_meets_the_protocol_for_the_type_checker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mypy agrees that StudentModel and Member fit the protocol (names and types)."""
    mypy_api = pytest.importorskip("mypy.api")
    import studentops

    snippet = tmp_path / "conformance.py"
    snippet.write_text(CONFORMANCE)
    monkeypatch.setenv("MYPYPATH", str(Path(studentops.__file__).parents[1]))
    out, err, status = mypy_api.run(
        [
            "--config-file",
            "",
            "--ignore-missing-imports",
            "--cache-dir",
            str(tmp_path / "cache"),
            str(snippet),
        ]
    )
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert status == 1, out + err
    assert len(errors) == 1 and "NoWeights" in errors[0], out + err
