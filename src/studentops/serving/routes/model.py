"""The served model: name, version, metrics and profile."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from studentops.serving.deps import PredictKey, PredictorDep
from studentops.serving.schemas import error_responses

router = APIRouter(prefix="/v1", tags=["model"], dependencies=[PredictKey])


@router.get(
    "/model",
    summary="The champion being served",
    responses=error_responses(401, 403, 503),
)
async def model_info(predictor: PredictorDep) -> dict[str, Any]:
    """Name, version, profile, task, classes, features, metrics and band rule of the model."""
    info = predictor.info
    return {
        "name": info.name,
        "version": info.version,
        "run_id": info.run_id,
        "profile": predictor.profile.model_dump(mode="json", exclude_none=True),
        "task": predictor.task,
        "classes": predictor.class_names,
        "features": predictor.features,
        "metrics": info.metrics,
        "class_labels": predictor.class_labels,
        "risk_bands": predictor.bands.as_dict(predictor.decision_text()),
        "reason_units": "percentage points of risk"
        if predictor.task != "regression" or predictor.profile.target.at_risk_below is not None
        else f"points of {predictor.profile.target.column}",
        "fast_path": predictor.fast is not None,
        # how each ensemble member is scored: "compiled forest", "folded linear", "per fold"
        # or "model" (its compiled form disagreed with it on the proof rows)
        "fast_path_members": predictor.fast.paths if predictor.fast is not None else [],
        **({"extra": info.extra} if info.extra else {}),
    }
