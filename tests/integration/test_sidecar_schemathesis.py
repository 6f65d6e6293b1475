"""Property-based run of the sidecar against its own /openapi.json (schemathesis).

On a blank and on a busy database: no 5xx, every response matches its documented
schema and status codes. Bounded: a few examples per operation.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import ignored_auth

from sheen.deadletters import DeadLetter
from sheen.services.state_sources import dead_letter_registry
from tests.integration.test_sidecar import seed_runs
from tests.sidecar_support import bearer, clean_broker, make_app, sidecar_settings


@pytest.fixture(params=["blank", "busy"])
def sidecar_app(request, db, services, celery_app):
    clean_broker(services)
    sidecar = sidecar_settings(slo_lookback_seconds=86400)
    if request.param == "busy":
        seed_runs(db, 500)
        registry = dead_letter_registry(sidecar)
        for i in range(30):
            registry.add(
                DeadLetter(
                    task="fleet.test_alert", reason="permanent", task_id=f"t{i}", exc_type="E"
                )
            )
    return make_app(sidecar), bearer(sidecar, "admin:write")


def exercise(operation, headers: dict[str, str]) -> None:
    """Generate a few requests for one operation and check every response."""

    @given(case=operation.as_strategy())
    @settings(max_examples=6, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(case):
        response = case.call(headers=headers)
        assert response.status_code < 500, (operation.label, response.text)
        # ignored_auth would count our valid test token as "generated" auth; the
        # 401/403 answers are asserted directly in test_sidecar.py.
        case.validate_response(response, excluded_checks=[ignored_auth])

    check()


def test_sidecar_conforms_to_its_openapi_document(sidecar_app):
    """No 5xx and no schema or status-code violation for generated requests, per operation."""
    app, headers = sidecar_app
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    from sheen.sidecar.openapi import document

    # Every documented operation is exercised (a schema loading error would lose some);
    # schemathesis leaves out the document's own path, /openapi.json.
    documented = sum(len(methods) for methods in document()["paths"].values())
    assert len(operations) == documented - 1
    for operation in operations:
        exercise(operation, headers)
