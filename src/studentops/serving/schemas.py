"""Request models generated from a profile, and field errors a client can act on.

One pydantic model per profile is built at start-up (never at import): the profile's feature
columns with their types, ranges, categories and nullability, plus ``student_id``. Pydantic's
Rust core does the per-field work, so validating one student costs microseconds; a category is
matched through a prepared lookup so that 1, 1.0 and "1" are the same category, as in training.
Errors are translated into one entry per offending field with a kind a person understands
(missing, wrong type, out of range, unknown category).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Annotated, Any

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    create_model,
)
from pydantic_core import PydanticCustomError

from studentops.datasets.contract import Rule, column_rule
from studentops.datasets.profile import Column, Profile

ID_FIELD = "student_id"

_KIND_BY_TYPE = {
    "missing": "missing",
    "greater_than_equal": "out of range",
    "less_than_equal": "out of range",
    "greater_than": "out of range",
    "less_than": "out of range",
    "unknown_category": "unknown category",
    "wrong_type": "wrong type",
    "out_of_range": "out of range",
}


@dataclass(frozen=True)
class FieldError:
    """One rejected field: where (row, field), what kind of problem, and the offending value."""

    row: int | None
    field: str
    kind: str
    message: str
    value: Any = None

    def as_dict(self) -> dict[str, Any]:
        """The error as a JSON-ready dict (the items of a 422's ``detail``)."""
        return asdict(self)


def _kind(error_type: str, value: Any) -> str:
    if error_type in _KIND_BY_TYPE:
        return _KIND_BY_TYPE[error_type]
    if value is None and error_type.endswith("_type"):
        return "missing"  # an explicit null in a required field is a missing value
    if error_type.endswith(("_type", "_parsing", "_from_float")) or error_type == "finite_number":
        return "wrong type"
    return "invalid"


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


_ERROR_TYPE = {
    "missing": "missing",
    "wrong type": "wrong_type",
    "out of range": "out_of_range",
    "unknown category": "unknown_category",
}


def _json_schema(column: Column) -> dict[str, Any]:
    """What the OpenAPI page shows for a field (the contract also takes numbers as text)."""
    schema: dict[str, Any]
    if column.type == "category":
        schema = {"enum": list(column.categories or []) + ([None] if column.nullable else [])}
    else:
        kind = {"integer": "integer", "number": "number", "boolean": "boolean"}.get(
            column.type, "string"
        )
        schema = {"type": kind}
        if column.type == "datetime":
            schema["format"] = "date-time"
        if column.min is not None:
            schema["minimum"] = column.min
        if column.max is not None:
            schema["maximum"] = column.max
        if column.nullable:
            schema = {"anyOf": [schema, {"type": "null"}]}
    if column.description:
        schema["description"] = column.description
    return schema


def _contract_field(rule: Rule, schema: dict[str, Any]) -> Any:
    """A field judged by the data contract, exactly as validation judges a CSV cell.

    The field's validator raises ``PydanticCustomError`` (missing, wrong type, out of range,
    unknown category) with the contract's reason; pydantic gathers them per row.
    """

    def check(value: Any) -> Any:
        verdict = rule(value)
        if verdict.reject is None:
            return verdict.value
        raise PydanticCustomError(
            _ERROR_TYPE[verdict.reject.kind], verdict.reject.reason.replace("{", "(")
        )

    return Annotated[Any, BeforeValidator(check), WithJsonSchema(schema)]


def record_model(profile: Profile, feature_columns: list[str] | None = None) -> type[BaseModel]:
    """Build the request model of one student for ``profile``.

    Fields get safe Python names (``f0``, ``f1``, ...) and the column names as aliases, because
    real column names hold spaces, quotes and parentheses. Unknown keys are ignored so a client
    may send whole rows (id, sensitive columns) as they come from its own system.
    """
    features = feature_columns or profile.feature_columns
    id_rule = Rule(ID_FIELD, "id", required=False, formats=profile.formats)
    id_schema = {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]}
    fields: dict[str, Any] = {
        "student_id": (
            _contract_field(id_rule, id_schema),
            Field(
                None,
                validation_alias=AliasChoices(ID_FIELD, profile.id or ID_FIELD),
                serialization_alias=ID_FIELD,
                description="The student's id in your system; stored only as a keyed hash.",
            ),
        )
    }
    for i, name in enumerate(features):
        column = profile.columns[name]
        default = None if column.nullable else ...
        rule = column_rule(name, column, profile.formats)
        fields[f"f{i}"] = (_contract_field(rule, _json_schema(column)), Field(default, alias=name))
    safe_name = "".join(part.capitalize() for part in profile.name.replace("_", "-").split("-"))
    return create_model(
        f"{safe_name}Student",
        __config__=ConfigDict(extra="ignore", populate_by_name=False, hide_input_in_errors=False),
        __doc__=f"One student as the profile '{profile.name}' describes it.",
        **fields,
    )


def field_errors(exc: ValidationError, aliases: list[str], single: bool) -> list[FieldError]:
    """Translate pydantic errors into one FieldError per offending field."""
    out: list[FieldError] = []
    for err in exc.errors(include_url=False):
        loc = list(err["loc"])
        row: int | None = None
        if not single and loc and isinstance(loc[0], int):
            row = int(loc.pop(0))
        field = ".".join(str(p) for p in loc) or ("record" if row is not None else "body")
        if field.startswith("f") and field[1:].isdigit() and int(field[1:]) < len(aliases):
            field = aliases[int(field[1:])]
        value = None if err["type"] == "missing" else err.get("input")
        kind = _kind(err["type"], value)
        if field in ("body", "record") or (field == ID_FIELD and kind != "missing"):
            kind = "wrong type"  # a whole record of the wrong kind, or an id that is not one
        out.append(FieldError(row, field, kind, err["msg"], _json_safe(value)))
    return out


# -- response models (documentation of what the routes return) -----------------------------


class Reason(BaseModel):
    """A feature (or a feature group of the profile) that pushed this student's risk up
    (positive) or down (negative)."""

    feature: str = Field(description="Column name, or the name of a feature group.")
    value: Any = Field(None, description="Raw value; for a group, each member's value.")
    label: str | None = Field(
        None, description="The value in words: a coded category's label, yes/no, a group's values."
    )
    contribution: float = Field(description="In the answer's units (percentage points of risk).")


class Reasons(BaseModel):
    """The features that moved this student's risk most, each way."""

    units: str = Field(
        description="'percentage points of risk' (regression without an at-risk bar: points of "
        "the target, positive when they lower the prediction)."
    )
    up: list[Reason]
    down: list[Reason]


class PredictionOut(BaseModel):
    """The answer for one student."""

    student_id: str | int | None = None
    prediction: Any = Field(
        description="Predicted class as its label in the profile, or the value for regression."
    )
    probabilities: dict[str, float] | None = Field(
        None, description="Probability of each class, keyed by class label (absent: regression)."
    )
    risk_score: float = Field(description="Probability of the at-risk classes (0..1).")
    risk_band: str = Field(
        description="high, medium or low by the server's band rule (GET /v1/model: risk_bands); "
        "a student predicted at risk is high."
    )
    band_reason: str | None = Field(
        None, description="Why a student predicted at risk is not high (lists only)."
    )
    model_name: str
    model_version: str
    reasons: Reasons | None = Field(
        None, description="With explain=true: the features that moved the risk most."
    )


class FieldErrorOut(BaseModel):
    """One rejected field of a request."""

    row: int | None = Field(None, description="Position in the list (absent for one record).")
    field: str
    kind: str = Field(description="missing, wrong type, out of range, unknown category, invalid")
    message: str
    value: Any = None


class ErrorOut(BaseModel):
    """An error answer: every rejected field (422) or one message."""

    detail: list[FieldErrorOut] | str


ERROR_DESCRIPTIONS = {
    401: "API key required but missing.",
    403: "Wrong API key (or admin routes closed: no admin keys configured).",
    413: "Body or batch over the configured limit.",
    422: "Invalid input: each offending field and why.",
    503: "No model loaded yet.",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the given error statuses."""
    return {code: {"model": ErrorOut, "description": ERROR_DESCRIPTIONS[code]} for code in codes}


def predict_openapi(record_ref: str, max_rows: int, max_top_k: int = 20) -> dict[str, Any]:
    """The OpenAPI operation of ``POST /v1/predict`` (a plain Starlette route, so by hand)."""
    answer = {"$ref": "#/components/schemas/PredictionOut"}
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
    return {
        "tags": ["predict"],
        "summary": "Predict one student or a list",
        "description": (
            "Send one student (a JSON object) or several (a list of objects, at most "
            f"{max_rows}); the answer has the same shape. Keys other than the profile's feature "
            "columns and `student_id` are ignored."
        ),
        "operationId": "predict_v1_predict_post",
        "security": [{"APIKeyHeader": []}, {}],
        "parameters": [
            {
                "name": "explain",
                "in": "query",
                "required": False,
                "description": "Add the top reasons per student.",
                "schema": {"type": "boolean", "default": False},
            },
            {
                "name": "top_k",
                "in": "query",
                "required": False,
                "description": "Reasons per student.",
                "schema": {"type": "integer", "minimum": 1, "maximum": max_top_k, "default": 3},
            },
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            {"$ref": record_ref},
                            {
                                "type": "array",
                                "items": {"$ref": record_ref},
                                "minItems": 1,
                                "maxItems": max_rows,
                            },
                        ]
                    }
                }
            },
        },
        "responses": {
            "200": {
                "description": "An answer per student: an object for an object, a list for a list.",
                "content": {
                    "application/json": {
                        "schema": {"oneOf": [answer, {"type": "array", "items": answer}]}
                    }
                },
            },
            "401": {"description": "API key required but missing.", "content": error},
            "403": {"description": "Wrong API key.", "content": error},
            "413": {"description": "Body or batch over the configured limit.", "content": error},
            "422": {
                "description": "Invalid records: each offending field and why.",
                "content": error,
            },
            "503": {"description": "No model loaded yet.", "content": error},
        },
    }
