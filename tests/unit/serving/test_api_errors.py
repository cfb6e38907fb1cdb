"""Bad input: 422 naming each field and why, 413 over the limits, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from .helpers import make_client


def errors(r: Any) -> list[dict[str, Any]]:
    assert r.status_code == 422, r.text
    return r.json()["detail"]


def by_field(r: Any) -> dict[str, dict[str, Any]]:
    return {e["field"]: e for e in errors(r)}


@pytest.mark.parametrize(
    ("change", "field", "kind"),
    [
        ({"Age at enrollment": None}, "Age at enrollment", "missing"),
        ({"Age at enrollment": "nineteen"}, "Age at enrollment", "wrong type"),
        ({"Age at enrollment": 19.5}, "Age at enrollment", "wrong type"),
        ({"Age at enrollment": 300}, "Age at enrollment", "out of range"),
        ({"Admission grade": -1}, "Admission grade", "out of range"),
        ({"Admission grade": [1, 2]}, "Admission grade", "wrong type"),
        # "NaN" is an NA token by the data contract: a missing value, as in a CSV cell.
        ({"Admission grade": "NaN"}, "Admission grade", "missing"),
        ({"Course": 1234}, "Course", "unknown category"),
        ({"Course": "law school"}, "Course", "unknown category"),
        ({"Course": {"x": 1}}, "Course", "wrong type"),
        ({"Course": True}, "Course", "wrong type"),  # a boolean is no category
        ({"student_id": [1]}, "student_id", "wrong type"),
    ],
)
def test_each_kind_of_bad_field(
    client: TestClient, record: dict[str, Any], change: dict, field: str, kind: str
) -> None:
    found = by_field(client.post("/v1/predict", json=dict(record, **change)))
    assert found[field]["kind"] == kind
    assert found[field]["row"] is None
    assert found[field]["message"]


def test_absent_required_field_is_missing(client: TestClient, record: dict[str, Any]) -> None:
    del record["Debtor"]
    found = by_field(client.post("/v1/predict", json=record))
    assert found["Debtor"] == {
        "row": None,
        "field": "Debtor",
        "kind": "missing",
        "message": "Field required",
        "value": None,
    }


def test_every_bad_field_of_every_row_is_reported(
    client: TestClient, records: list[dict[str, Any]]
) -> None:
    records[1]["Course"] = 1
    records[3]["Age at enrollment"] = 5
    records[3]["Debtor"] = 7
    found = errors(client.post("/v1/predict", json=records[:5]))
    assert {(e["row"], e["field"], e["kind"]) for e in found} == {
        (1, "Course", "unknown category"),
        (3, "Age at enrollment", "out of range"),
        (3, "Debtor", "unknown category"),
    }


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b"{not json", "wrong type"),
        (b"", "wrong type"),
        (b"42", "wrong type"),
        (b'"text"', "wrong type"),
        (b"null", "wrong type"),
        (b"[]", "missing"),
        (b"\xff\xfe", "wrong type"),
    ],
)
def test_bodies_that_are_not_records(client: TestClient, body: bytes, kind: str) -> None:
    found = errors(
        client.post("/v1/predict", content=body, headers={"content-type": "application/json"})
    )
    assert found[0]["field"] == "body" and found[0]["kind"] == kind


def test_a_list_of_non_objects(client: TestClient) -> None:
    found = errors(client.post("/v1/predict", json=[1, "x", None]))
    assert [(e["row"], e["field"]) for e in found] == [(0, "record"), (1, "record"), (2, "record")]
    assert all(e["kind"] == "wrong type" for e in found)


@pytest.mark.parametrize(
    ("query", "field"),
    [("explain=maybe", "explain"), ("top_k=0", "top_k"), ("top_k=x", "top_k")],
)
def test_bad_query_parameters(client: TestClient, record: dict, query: str, field: str) -> None:
    found = errors(client.post(f"/v1/predict?{query}", json=record))
    assert found[0]["field"] == field


def test_batch_over_the_row_limit_is_413(settings: Any, source: Any, record: dict) -> None:
    settings.max_batch_rows = 3
    with make_client(settings, source) as c:
        assert c.post("/v1/predict", json=[record] * 3).status_code == 200
        r = c.post("/v1/predict", json=[record] * 4)
        assert r.status_code == 413
        assert "limit is 3" in r.json()["detail"]


def test_body_over_the_byte_limit_is_413(settings: Any, source: Any, record: dict) -> None:
    settings.max_body_bytes = 4_000
    with make_client(settings, source) as c:
        assert c.post("/v1/predict", json=record).status_code == 200
        assert c.post("/v1/predict", json=[record] * 10).status_code == 413

        def chunks():  # no Content-Length: the limit is enforced while reading
            for _ in range(10):
                yield b" " * 1000

        r = c.post("/v1/predict", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413
