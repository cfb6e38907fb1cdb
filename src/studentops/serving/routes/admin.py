"""Admin routes (admin key always required)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from studentops.serving.deps import AdminKey, StateDep
from studentops.serving.holder import signal_reload
from studentops.serving.schemas import error_responses

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[AdminKey])


@router.post(
    "/reload",
    summary="Load the registry's champion now and swap it in",
    responses=error_responses(401, 403),
)
async def reload(
    state: StateDep,
    force: Annotated[bool, Query(description="Reload even if the version is unchanged.")] = False,
) -> dict[str, Any]:
    """Swap in the registry's champion now; other workers follow through the signal file."""
    result = await run_in_threadpool(state.holder.reload, force)
    signal_reload(state.signal_file)
    return result.as_dict()
