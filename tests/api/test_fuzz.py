"""The whole API under generated requests, in-process over WSGI: whatever a client sends, the answer is
never a server error. Every operation of the OpenAPI schema gets requests built from its parameters and
bodies, valid ones and ones that break the schema (Schemathesis strategies driven by Hypothesis,
derandomised so that a run is repeatable), as a platform administrator, who may reach every operation.

A run of the `st` command against a live server found ids past 2**53-1 breaking idempotency
fingerprints and non-ASCII digits breaking a query-string id; those boundary cases have tests of their
own (random generation rarely reaches them). This test keeps every operation, including new ones,
answering malformed input with a 4xx.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode

from accounts.models import User

APP = get_wsgi_application()
EXAMPLES_PER_MODE = 5  # per operation; LIBRARIES.md: keep it low in CI


def _schema() -> schemathesis.schemas.BaseSchema:
    document = SchemaGenerator().get_schema(request=None, public=True)
    return schemathesis.openapi.from_dict(json.loads(OpenApiJsonRenderer().render(document)))


@pytest.fixture
def in_test_transaction():
    """Keep the test's database connection across requests, as Django's test client does: the WSGI
    handler otherwise closes it when a request ends, inside the transaction the test runs in."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.mark.django_db
def test_no_generated_request_gets_a_server_error(in_test_transaction):
    admin = User.objects.create_superuser("fuzz-admin", "fuzz@voltrace.invalid", "correct horse battery")
    headers = {"Authorization": f"Token {Token.objects.create(user=admin).key}"}
    failures: list[str] = []
    operations = [result.ok() for result in _schema().get_all_operations()]
    assert len(operations) > 80

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=EXAMPLES_PER_MODE,
                derandomize=True,
                deadline=None,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def send(case: schemathesis.Case) -> None:
                response = case.call(app=APP, base_url="http://testserver", headers=headers)
                if response.status_code >= 500:
                    answer = f"{response.status_code} {response.text[:300]}"
                    failures.append(f"{case.as_curl_command()}\n  -> {answer}")

            try:
                send()
            except Unsatisfiable:  # nothing in the operation can break its schema (no inputs)
                assert mode is GenerationMode.NEGATIVE, operation.label
    assert failures == [], "\n".join(failures)
