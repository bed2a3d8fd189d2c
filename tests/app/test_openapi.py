"""The OpenAPI document is valid, and fuzzing the API from it never yields a 5xx."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate


def test_document_validates(client):
    doc = client.get("/openapi.json").json
    validate(doc)
    assert set(doc["paths"]) >= {"/publish", "/events", "/stats", "/replication", "/health", "/ready", "/metrics"}
    assert doc["components"]["schemas"]["Event"]["required"] == ["event_id"]


@pytest.fixture
def api_schema(app):
    return schemathesis.openapi.from_wsgi("/openapi.json", app)


fuzzed = schemathesis.pytest.from_fixture("api_schema")


@fuzzed.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzzed_requests_never_get_a_server_error(case):
    response = case.call()
    assert response.status_code < 500, f"{case.method} {case.path}: {response.status_code} {response.text[:300]}"
