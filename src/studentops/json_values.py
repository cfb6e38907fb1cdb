"""JSON for our values: one JSON-safe converter and one fast encoder, used everywhere.

Reports, model cards, MLflow artifacts, API bodies, stream records and the prediction log all
hold NumPy scalars and arrays, NaN and the odd integer beyond 64 bits. Two functions cover
them:

* :func:`to_json_safe` copies a value into plain Python (``dict`` with string keys, ``list``,
  ``str``, ``int``, ``float``, ``bool``, ``None``), with NaN and infinities as ``None``
  (RFC 8259 JSON has no NaN) and anything else as its ``str``; the result goes through
  ``json.dumps``, ``yaml.safe_dump`` or MLflow's ``log_dict`` unchanged.
* :func:`dump_json` encodes with orjson (NumPy arrays and scalars natively, non-string keys
  allowed; several times faster than ``json`` on the API's hot path) and falls back to the
  standard library, with ``str`` for unknown types, for what orjson refuses (integers beyond
  64 bits).

Only orjson and NumPy are imported, both light; any part may use this module.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import orjson

ORJSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def to_json_safe(value: Any) -> Any:
    """Return a plain-Python copy of ``value`` that any JSON or YAML writer accepts.

    Mappings become ``dict`` with ``str`` keys; lists, tuples and NumPy arrays (any shape,
    nested lists for ``ndim > 1``) become lists; NumPy scalars become Python ones; NaN and
    ±infinity become ``None``; ``None``, ``str``, ``int``, ``float`` and ``bool`` stay; any
    other object becomes ``str(value)``. Never raises.
    """
    if isinstance(value, dict):
        return {str(k): to_json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return [to_json_safe(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def dump_json(value: Any) -> bytes:
    """Encode ``value`` as UTF-8 JSON bytes (orjson, or ``json`` for what orjson refuses).

    NumPy arrays and scalars are encoded natively and non-string keys as strings
    (:data:`ORJSON_OPTIONS`); NaN becomes ``null`` (orjson's rule). Integers beyond 64 bits,
    which orjson refuses with ``TypeError``, go through ``json.dumps(default=str)`` instead.

    Raises:
        ValueError: ``value`` holds a circular reference (neither encoder can write it).
    """
    try:
        return orjson.dumps(value, option=ORJSON_OPTIONS)
    except TypeError:
        return json.dumps(value, default=str).encode()
