"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from studentops.serving.deps import StateDep

router = APIRouter(tags=["operations"])


@router.get("/health", summary="The process is up")
async def health() -> dict[str, str]:
    """Liveness: the process answers (a model may still be loading)."""
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="A model is loaded and answering",
    responses={503: {"description": "No model loaded yet."}},
)
async def ready(state: StateDep) -> Any:
    """Readiness: the served model's name and version, or 503 while none is loaded."""
    current = state.holder.current
    if current is None:
        return JSONResponse(
            {"status": "not ready", "detail": state.holder.last_error or "loading"}, 503
        )
    info = current.info
    return {"status": "ready", "model_name": info.name, "model_version": info.version}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(state: StateDep) -> Response:
    """The Prometheus exposition text (merged over workers in multiprocess mode)."""
    body, content_type = state.metrics.render()
    return Response(body, media_type=content_type)
