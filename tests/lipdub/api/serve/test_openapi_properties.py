"""Property-based requests from the API's own OpenAPI document (schemathesis): whatever a
client sends, the server answers with a documented status and body, never a 5xx."""
from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance, status_code_conformance

from tests.lipdub.api.serve.conftest import TOKEN, Api


import pytest


@pytest.fixture
def api_schema(api: Api):
    return schemathesis.openapi.from_url(api.url + "/v1/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_crashes_the_server(case, api: Api) -> None:
    case.call_and_validate(
        base_url=api.url, session=api.session, headers={"Authorization": f"Bearer {TOKEN}"},
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
    )
