"""Property-based requests from the API's own OpenAPI document (schemathesis): whatever a
client sends, valid or not, the server answers with a documented status and a body matching the
document, never a 5xx.

Cases are drawn with hypothesis from each operation's strategy (schemathesis's lazy pytest
loader does not work with pytest 9's node ids, so the loop is ours).
"""
from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance, status_code_conformance

from tests.lipdub.api.serve.conftest import TOKEN, Api

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES_PER_OPERATION = 20


def test_no_generated_request_crashes_the_server_or_breaks_the_document(api: Api) -> None:
    schema = schemathesis.openapi.from_url(api.url + "/v1/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9, [op.label for op in operations]
    called: dict[str, int] = {}
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode)

            @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            @given(data=st.data())
            def check(data) -> None:
                case = data.draw(strategy)
                case.call_and_validate(base_url=api.url, session=api.session,
                                       headers={"Authorization": f"Bearer {TOKEN}"}, checks=CHECKS)
                called[operation.label] = called.get(operation.label, 0) + 1

            try:
                check()
            except Unsatisfiable:
                # No invalid input exists for an operation that takes none (GET /v1/health).
                assert mode is GenerationMode.NEGATIVE, operation.label
    assert set(called) == {op.label for op in operations}, "some operations were never called"
