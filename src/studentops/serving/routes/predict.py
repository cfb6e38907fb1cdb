"""Prediction routes: JSON (one student or a list) and CSV upload."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from starlette.routing import Route

from studentops.serving.deps import PredictKey, PredictorDep, ServiceDep, ServingState
from studentops.serving.predictor import RecordsInvalid
from studentops.serving.schemas import FieldError, error_responses
from studentops.serving.security import API_KEY_HEADER

router = APIRouter(prefix="/v1", tags=["predict"], dependencies=[PredictKey])

# Scoring a few students takes well under a millisecond: doing it on the event loop beats a
# hop to the thread pool. Bigger batches and SHAP explanations go to the pool.
INLINE_ROWS = 32
MAX_TOP_K = 20
TRUE = ("true", "1", "yes", "on")
FALSE = ("false", "0", "no", "off")

ERRORS = error_responses(401, 403, 413, 422, 503)


async def predict(request: Request) -> Response:
    """``POST /v1/predict``: one student (object) or several (list) -> answers, same shape.

    A plain Starlette endpoint, not a FastAPI one: FastAPI's per-request dependency and
    parameter machinery costs about 150 us of CPU here, twice the prediction itself (see
    docs/serving.md). It does what the dependencies would (key check, current predictor) in four
    lines; its OpenAPI entry is :func:`studentops.serving.schemas.predict_openapi`.
    """
    state: ServingState = request.app.state.serving
    state.keys.check_predict(request.headers.get(API_KEY_HEADER))
    predictor = state.holder.get()
    explain, top_k = predict_options(request.query_params)
    service = state.service
    payload = service.parse(await request.body())
    if explain or (isinstance(payload, list) and len(payload) > INLINE_ROWS):
        body = await run_in_threadpool(service.predict_json, predictor, payload, explain, top_k)
    else:
        body = service.predict_json(predictor, payload, explain, top_k)
    return Response(body, media_type="application/json")


def predict_options(query: Mapping[str, str]) -> tuple[bool, int]:
    """``explain`` and ``top_k`` from the query string, with FastAPI's boolean spellings.

    Raises:
        RecordsInvalid: ``explain`` is not a boolean or ``top_k`` not an integer in range (422).
    """
    errors = []
    explain = False
    raw = query.get("explain")
    if raw is not None:
        if raw.lower() in TRUE:
            explain = True
        elif raw.lower() not in FALSE:
            errors.append(FieldError(None, "explain", "wrong type", "expected true or false", raw))
    top_k = 3
    raw = query.get("top_k")
    if raw is not None:
        try:
            top_k = int(raw)
        except ValueError:
            errors.append(FieldError(None, "top_k", "wrong type", "expected an integer", raw))
        else:
            if not 1 <= top_k <= MAX_TOP_K:
                errors.append(
                    FieldError(None, "top_k", "out of range", f"between 1 and {MAX_TOP_K}", top_k)
                )
    if errors:
        raise RecordsInvalid(errors)
    return explain, top_k


json_route = Route("/v1/predict", predict, methods=["POST"], name="predict")


@router.post(
    "/predict/csv",
    summary="Score a CSV file",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": (
                "The rows with prediction (class label), proba_<label> per class, risk score, "
                "its log-odds (the tie-break), band, band_reason and integer rank appended, "
                "ranked by risk; rejected rows last with status 'rejected' and their errors. "
                "The band rule is in the X-Risk-Bands header."
            ),
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        **ERRORS,
    },
)
async def predict_csv(
    file: UploadFile, predictor: PredictorDep, service: ServiceDep
) -> StreamingResponse:
    """Score a CSV file: valid rows ranked by risk as CSV; counts and bands in the headers."""
    result = await run_in_threadpool(service.predict_csv, predictor, file.file)
    return StreamingResponse(
        result.chunks(),
        media_type="text/csv",
        headers={
            "X-Rows-Accepted": str(result.accepted),
            "X-Rows-Rejected": str(result.rejected),
            "X-Risk-Bands": result.band_rule,
            "Content-Disposition": 'attachment; filename="predictions.csv"',
        },
    )
