"""A small real model behind the serving Predictor, and the events it scores.

A real :class:`~studentops.training.model.StudentModel` (profile encoder + one LightGBM member)
fitted on a synthetic cohort of the built-in ``uci-dropout-binary`` profile in well under a
second, without the search. It is deterministic, so a worker subprocess rebuilds the very same
model instead of loading one from a registry.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

PROFILE = "uci-dropout-binary"


def _clean(record: dict[str, Any]) -> dict[str, Any]:
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in record.items()}


def cohort(rows: int, seed: int) -> tuple[Any, Any]:
    """(profile, synthetic frame in the profile's schema)."""
    from studentops.datasets.profile import load_profile
    from studentops.datasets.synthetic import generate_cohort

    profile = load_profile(PROFILE)
    return profile, generate_cohort(profile, rows, seed=seed)


def train_model() -> Any:
    """A StudentModel with one LightGBM member (deterministic, single thread)."""
    from lightgbm import LGBMClassifier

    from studentops.features.encode import ProfileEncoder
    from studentops.training.model import Member, StudentModel, class_codes

    profile, frame = cohort(2_000, seed=7)
    encoder = ProfileEncoder(profile).fit(frame)
    y = class_codes(profile.target_values(frame), profile.class_order())
    clf = LGBMClassifier(n_estimators=40, num_leaves=15, n_jobs=1, random_state=1, verbose=-1)
    clf.fit(encoder.transform(frame), y)
    member = Member("lightgbm", {}, [clf], "classifier", n_classes=2)
    return StudentModel(profile, encoder, [member], [1.0], "roc_auc", float("nan"), threshold=0.5)


def build_predictor(version: str = "1") -> Any:
    """The serving Predictor over :func:`train_model` (same model every time)."""
    from studentops.serving.predictor import ModelInfo, Predictor

    model = train_model()
    return Predictor(model, ModelInfo("tiny-dropout", version, model.profile.name))


def event_payloads(count: int, seed: int = 1, prefix: str = "e") -> list[tuple[str, bytes]]:
    """(event_id, JSON payload) of ``count`` valid events."""
    profile, frame = cohort(min(count, 5_000), seed=seed)
    records = [_clean(r) for r in frame[profile.feature_columns].to_dict("records")]
    out = []
    for i in range(count):
        event_id = f"{prefix}{i}"
        body = {"event_id": event_id, "student_id": f"s{i}", "features": records[i % len(records)]}
        out.append((event_id, orjson.dumps(body)))
    return out
