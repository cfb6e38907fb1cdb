"""Property-based tests from the OpenAPI document: whatever a client sends, never a 5xx.

Schemathesis generates requests for every operation, both valid (positive) and invalid
(negative) ones, against the API on a real server; each response is checked against the
document (status codes, content types, schemas) and must not be a server error. Driven with
hypothesis directly: schemathesis' pytest plugin does not support pytest 9 yet.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_request_gets_a_server_error(live_api: str, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(f"{live_api}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 7
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=live_api, checks=CHECKS)

        try:
            run()
        except Unsatisfiable:  # nothing invalid to send (e.g. GET /health in negative mode)
            continue
