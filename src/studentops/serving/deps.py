"""Dependencies of the routes: the serving state, the current Predictor, and key checks.

Routes declare what they need as ``Annotated[..., Depends(...)]`` aliases from here, so each
route reads as a list of its inputs and tests can swap any of them. The dependencies are
``async def`` although they never await: FastAPI runs a plain ``def`` dependency in the thread
pool, and those hops cost more than the whole prediction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from studentops.config import Settings
from studentops.datasets.profile import Profile
from studentops.monitoring.predlog import PredictionLog
from studentops.serving.holder import ModelHolder
from studentops.serving.metrics import Metrics
from studentops.serving.predictor import Predictor
from studentops.serving.security import API_KEY_HEADER, KeyChecker
from studentops.serving.service import PredictionService

api_key_header = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="API key; required for predictions only when the server is set to require one.",
)
admin_key_header = APIKeyHeader(
    name=API_KEY_HEADER,
    scheme_name="AdminKey",
    auto_error=False,
    description="Admin key (settings.admin_keys); always required on admin routes.",
)


@dataclass
class ServingState:
    """Everything the app shares between requests, built once by ``create_app``."""

    settings: Settings
    profile: Profile
    holder: ModelHolder
    metrics: Metrics
    service: PredictionService
    keys: KeyChecker
    log: PredictionLog | None
    signal_file: Path


async def get_state(request: Request) -> ServingState:
    """The app's shared objects, set by ``app.create_app`` on ``app.state.serving``."""
    return request.app.state.serving


StateDep = Annotated[ServingState, Depends(get_state)]


async def get_predictor(state: StateDep) -> Predictor:
    """The Predictor for this request, read once: a swap mid-request cannot change it."""
    return state.holder.get()


async def get_service(state: StateDep) -> PredictionService:
    """The prediction service shared by the routes."""
    return state.service


async def check_predict_key(
    state: StateDep, key: Annotated[str | None, Security(api_key_header)] = None
) -> None:
    """Let a prediction route run only with a valid key (when keys are required).

    Raises:
        AuthError: 401 for a missing key, 403 for a wrong one.
    """
    state.keys.check_predict(key)


async def check_admin_key(
    state: StateDep, key: Annotated[str | None, Security(admin_key_header)] = None
) -> None:
    """Let an admin route run only with a valid admin key.

    Raises:
        AuthError: 401 for a missing key, 403 for a wrong one or when no admin key is set.
    """
    state.keys.check_admin(key)


PredictorDep = Annotated[Predictor, Depends(get_predictor)]
ServiceDep = Annotated[PredictionService, Depends(get_service)]
PredictKey = Depends(check_predict_key)
AdminKey = Depends(check_admin_key)
