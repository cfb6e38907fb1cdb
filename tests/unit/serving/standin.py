"""A small real model with the StudentModel serving interface, for tests that need no training run.

LightGBM on the profile's features (categories as integer codes), fitted on a few thousand rows
in well under a second.
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from studentops.datasets.profile import Profile


class StandInModel:
    """Picklable binary/multiclass LightGBM model speaking the StudentModel interface."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.task = profile.task
        self.feature_columns = profile.feature_columns
        self.classes_ = list(profile.class_order())
        self.threshold = 0.5
        self._codes = {
            name: {c: float(i) for i, c in enumerate(profile.columns[name].categories or [])}
            for name in self.feature_columns
            if profile.columns[name].type == "category"
        }
        self.booster: lgb.Booster | None = None

    def fit(self, frame: pd.DataFrame, y: pd.Series) -> StandInModel:
        X = self.encode_frame(frame)
        labels = np.array([self.classes_.index(v) for v in y])
        params: dict[str, Any] = {"verbose": -1, "num_threads": 1, "num_leaves": 15, "seed": 1}
        if self.task == "binary":
            params["objective"] = "binary"
        else:
            params.update(objective="multiclass", num_class=len(self.classes_))
        cat_idx = [i for i, c in enumerate(self.feature_columns) if c in self._codes]
        data = lgb.Dataset(X, labels, categorical_feature=cat_idx, free_raw_data=False)
        self.booster = lgb.train(params, data, num_boost_round=60)
        return self

    def encode_frame(self, frame: pd.DataFrame) -> np.ndarray:
        cols = []
        for name in self.feature_columns:
            if name in self._codes:
                cols.append(frame[name].map(self._codes[name]).astype(float).to_numpy())
            else:
                cols.append(pd.to_numeric(frame[name], errors="coerce").astype(float).to_numpy())
        return np.column_stack(cols)

    def encode_records(self, records: list[dict[str, Any]]) -> np.ndarray:
        X = np.empty((len(records), len(self.feature_columns)))
        for i, rec in enumerate(records):
            for j, name in enumerate(self.feature_columns):
                v = rec.get(name)
                codes = self._codes.get(name)
                if v is None:
                    X[i, j] = np.nan
                elif codes is not None:
                    X[i, j] = codes.get(v, np.nan)
                else:
                    X[i, j] = float(v)
        return X

    def predict_proba_matrix(self, X: np.ndarray) -> np.ndarray:
        assert self.booster is not None
        p = self.booster.predict(X, num_threads=1)
        return np.column_stack([1 - p, p]) if self.task == "binary" else p

    def predict_value_matrix(self, X: np.ndarray) -> np.ndarray:
        raise TypeError("a classifier")

    def decide(self, proba: np.ndarray) -> np.ndarray:
        if self.task == "binary":
            return (proba[:, 1] >= self.threshold).astype(int)
        return proba.argmax(axis=1)

    def risk_from_output(self, output: np.ndarray) -> np.ndarray:
        if self.task == "binary":
            return output[:, 1]
        return output[:, -1]

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        return self.encode_frame(frame)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.predict_proba_matrix(self.encode_frame(frame))

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        classes = np.asarray(self.classes_, dtype=object)
        return classes[self.decide(self.predict_proba(frame))]


def fake_explainer(model: StandInModel, frame: pd.DataFrame, top_k: int) -> list[dict]:
    """Deterministic stand-in for training.explain.explain_rows (same output shape)."""
    out = []
    for _, row in frame.iterrows():
        items = [
            {"feature": c, "value": row[c], "label": None, "contribution": 10.0 * (k + 1)}
            for k, c in enumerate(model.feature_columns[: 2 * top_k])
        ]
        out.append(
            {
                "risk": 0.5,
                "units": "percentage points of risk",
                "up": sorted(items[::2], key=lambda it: -it["contribution"])[:top_k],
                "down": [dict(it, contribution=-it["contribution"]) for it in items[1::2]][:top_k],
            }
        )
    return out
