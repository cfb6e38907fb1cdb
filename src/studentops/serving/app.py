"""The FastAPI app: built by :func:`create_app`, never at import.

The factory wires one settings object into the shared state (model holder, prediction log,
metrics, key checker), the routes, the error mapping and the middleware. Loading the champion,
starting the log writer and the registry poller happen in the lifespan, so building an app in a
test costs nothing until it is started. ``uvicorn --factory studentops.serving.app:create_app``
is how ``studentops serve`` runs it in every worker.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from studentops import __version__
from studentops.config import Settings, load_settings
from studentops.datasets.profile import resolve_profile
from studentops.errors import ConfigError, DataError, ModelError, ProfileError, StudentOpsError
from studentops.monitoring.logwriter import ProcessPredictionLog
from studentops.serving.bands import bands_from_settings
from studentops.serving.deps import ServingState
from studentops.serving.holder import ModelHolder, ModelSource
from studentops.serving.metrics import Metrics, MetricsMiddleware
from studentops.serving.predictor import ModelInfo, Predictor, RecordsInvalid, TooLarge
from studentops.serving.routes import admin, health, model, predict
from studentops.serving.schemas import ErrorOut, PredictionOut, predict_openapi, record_model
from studentops.serving.security import AuthError, BodyLimitMiddleware, BodyTooLarge, KeyChecker
from studentops.serving.service import PredictionService
from studentops.serving.source import RegistrySource

log = logging.getLogger(__name__)

DESCRIPTION = """
Predict student outcomes with the champion model of one dataset profile.

Send one student (a JSON object) or several (a list) to `POST /v1/predict`, or a CSV file to
`POST /v1/predict/csv`. Each answer has the predicted class (or value), class probabilities,
a risk score and band, the model's name and version and, with `explain=true`, the features
that pushed the risk up or down most.
"""


def _field_error_response(status: int, detail: Any) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def _install_error_handlers(app: FastAPI) -> None:
    """Map our errors to 4xx/503 with a body that names what to fix."""

    async def records_invalid(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RecordsInvalid)
        return _field_error_response(422, [e.as_dict() for e in exc.errors])

    async def too_large(_: Request, exc: Exception) -> JSONResponse:
        return _field_error_response(413, str(exc))

    async def auth(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AuthError)
        headers = {"WWW-Authenticate": "APIKey"} if exc.status == 401 else None
        return JSONResponse({"detail": str(exc)}, status_code=exc.status, headers=headers)

    async def no_model(_: Request, exc: Exception) -> JSONResponse:
        return _field_error_response(503, f"no model available: {exc}")

    async def bad_data(_: Request, exc: Exception) -> JSONResponse:
        return _field_error_response(
            422, [{"row": None, "field": "file", "kind": "invalid", "message": str(exc)}]
        )

    async def user_error(_: Request, exc: Exception) -> JSONResponse:
        return _field_error_response(400, str(exc))

    async def request_invalid(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        detail = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ())]
            field = ".".join(loc[1:] if loc and loc[0] in ("query", "body", "header") else loc)
            kind = "missing" if err.get("type") == "missing" else "invalid"
            detail.append(
                {"row": None, "field": field or "request", "kind": kind, "message": err.get("msg")}
            )
        return _field_error_response(422, detail)

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        # FastAPI turns any failure while reading a form into a 400; a body cut off by the size
        # limit is a 413.
        if isinstance(exc.__cause__, BodyTooLarge) or isinstance(exc.__context__, BodyTooLarge):
            return _field_error_response(413, "request body too large")
        if exc.status_code == 400:  # FastAPI could not parse the body (a broken multipart form)
            return _field_error_response(
                422, [{"row": None, "field": "body", "kind": "wrong type", "message": exc.detail}]
            )
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    app.add_exception_handler(RecordsInvalid, records_invalid)
    app.add_exception_handler(TooLarge, too_large)
    app.add_exception_handler(AuthError, auth)
    app.add_exception_handler(ModelError, no_model)
    app.add_exception_handler(DataError, bad_data)
    app.add_exception_handler(ProfileError, bad_data)
    app.add_exception_handler(StudentOpsError, user_error)
    app.add_exception_handler(RequestValidationError, request_invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)


def _custom_openapi(app: FastAPI, state: ServingState) -> Callable[[], dict[str, Any]]:
    """OpenAPI with the profile's request model: the predict route parses its body itself."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        current = state.holder.current
        record_type = current.record_type if current else record_model(state.profile)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model_type in (record_type, PredictionOut, ErrorOut):
            body = model_type.model_json_schema(
                by_alias=True, ref_template="#/components/schemas/{model}"
            )
            components.update(body.pop("$defs", {}))
            components[model_type.__name__] = body
        ref = f"#/components/schemas/{record_type.__name__}"
        schema["paths"]["/v1/predict"] = {
            "post": predict_openapi(ref, state.settings.max_batch_rows, predict.MAX_TOP_K)
        }
        # Keep the documented order: the JSON route first.
        paths = schema["paths"]
        schema["paths"] = dict(sorted(paths.items(), key=lambda kv: kv[0] != "/v1/predict"))
        app.openapi_schema = schema
        return schema

    return openapi


def create_app(
    settings: Settings | None = None,
    source: ModelSource | None = None,
    explainer: Any = None,
    poll: bool = True,
    log_predictions: bool = True,
) -> FastAPI:
    """Build the API for the champion of ``settings.serve_profile``.

    Args:
        settings: defaults to :func:`load_settings` (environment and studentops.yaml).
        source: where models come from; defaults to the MLflow registry.
        explainer: ``explain_rows`` replacement (tests); defaults to training.explain.
        poll: poll the registry every ``settings.reload_interval_s``.
        log_predictions: write every prediction to the prediction log.

    Raises:
        ConfigError: no profile to serve.
        ProfileError: the profile cannot be found or read.
    """
    settings = settings or load_settings()
    if not settings.serve_profile:
        raise ConfigError(
            "no profile to serve: set serve_profile (STUDENTOPS_SERVE_PROFILE or --profile)"
        )
    profile = resolve_profile(settings.serve_profile, settings)
    metrics = Metrics()
    from studentops.monitoring.prometheus import MonitoringCollector

    metrics.add_collector(MonitoringCollector(settings.prediction_log))  # latest drift figures
    bands = bands_from_settings(settings)

    def make_predictor(model_obj: Any, info: ModelInfo) -> Predictor:
        return Predictor(model_obj, info, bands, explainer)

    holder = ModelHolder(
        source or RegistrySource(profile.name, settings),
        make_predictor,
        on_swap=lambda p: metrics.set_model(p.info.name, p.info.version),
        on_reload=lambda r: metrics.reloads.labels(r.outcome).inc(),
    )
    prediction_log = None
    if log_predictions:
        from studentops.databases import with_installed_driver

        # The database work runs in a child process: a writer thread here would compete with
        # requests for the GIL (see studentops.monitoring.logwriter).
        prediction_log = ProcessPredictionLog(
            with_installed_driver(settings.prediction_log),
            settings.pseudonym_key,
            queue_size=settings.log_queue_size,
            on_drop=metrics.on_log_drop,
        )
    state = ServingState(
        settings=settings,
        profile=profile,
        holder=holder,
        metrics=metrics,
        service=PredictionService(metrics, prediction_log, settings.max_batch_rows),
        keys=KeyChecker(settings.api_keys, settings.admin_keys, settings.require_api_key),
        log=prediction_log,
        signal_file=settings.home / "serve" / f"reload-{profile.name}",
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if prediction_log is not None:
            if not settings.prediction_log_url:
                settings.ensure_home()
            await anyio.to_thread.run_sync(prediction_log.start)
        await anyio.to_thread.run_sync(holder.reload)
        # Everything loaded so far (libraries, the model) lives as long as the process: keep it
        # out of the garbage collector's scans, which otherwise show up as p99 spikes.
        gc.collect()
        gc.freeze()
        if poll:
            holder.start_polling(settings.reload_interval_s, state.signal_file)
        try:
            yield
        finally:
            holder.stop()
            if prediction_log is not None:
                await anyio.to_thread.run_sync(prediction_log.close)

    app = FastAPI(
        title="studentops",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.serving = state
    # First in the route list: the router tries routes in order, and this is the hot one.
    app.router.routes.insert(0, predict.json_route)
    for module in (predict, model, admin, health):
        app.include_router(module.router)
    _install_error_handlers(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-API-Key"],
        )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    paths = frozenset(getattr(r, "path", "") for r in app.router.routes)
    app.add_middleware(MetricsMiddleware, metrics=metrics, paths=paths)
    app.openapi = _custom_openapi(app, state)  # type: ignore[method-assign]
    return app
