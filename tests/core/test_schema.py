"""The OpenAPI schema generates without a single warning: every view, serializer and enum is named."""

from __future__ import annotations

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_openapi_schema_generates_without_warnings(tmp_path):
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(tmp_path / "schema.yaml"))
    assert "/api/v1/auth/token" in (tmp_path / "schema.yaml").read_text()


@pytest.fixture(scope="module")
def schema(django_db_setup, django_db_blocker) -> dict:
    from drf_spectacular.generators import SchemaGenerator

    with django_db_blocker.unblock():
        return SchemaGenerator().get_schema(request=None, public=True)


def test_every_paginated_list_documents_the_404_of_a_page_past_its_last(schema):
    lists = {
        path: operation
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method == "get" and any(param["name"] == "page" for param in operation.get("parameters", []))
    }
    assert "/api/v1/batteries/" in lists
    assert [path for path, operation in lists.items() if "404" not in operation["responses"]] == []
    assert [path for path, operation in lists.items() if "400" not in operation["responses"]] == []


def test_the_qr_endpoint_documents_both_image_types(schema):
    content = schema["paths"]["/api/v1/batteries/{code}/qr.{fmt}"]["get"]["responses"]["200"]["content"]
    assert set(content) == {"image/svg+xml", "image/png"}


def test_report_downloads_document_every_format_media_type(schema):
    content = schema["paths"]["/api/v1/reports/{id}/download"]["get"]["responses"]["200"]["content"]
    assert set(content) == {"application/pdf", "text/csv", "application/json", "application/ld+json"}
