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
        "risk_bands": {"high": predictor.bands.high, "medium": predictor.bands.medium},
        "fast_path": predictor.fast is not None,
        # how each ensemble member is scored: "compiled forest", "folded linear", "per fold"
        # or "model" (its compiled form disagreed with it on the proof rows)
        "fast_path_members": predictor.fast.paths if predictor.fast is not None else [],
        **({"extra": info.extra} if info.extra else {}),
    }
