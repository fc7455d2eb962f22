"""Licensing fixtures: a Jiangxi facility of the licensed recycler and its hazardous-waste permit."""

from __future__ import annotations

from datetime import datetime
from io import BytesIO
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.factories import FacilityFactory, LicenceFactory

SHANGHAI = ZoneInfo("Asia/Shanghai")
PDF_BYTES = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def local(text: str) -> datetime:
    """A wall-clock time in Asia/Shanghai, e.g. local("2026-06-30 23:59:59")."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def pdf(name: str = "permit.pdf", content: bytes = PDF_BYTES) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/pdf")


def png(name: str = "scan.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PNG_BYTES, content_type="image/png")


def oversized_pdf() -> SimpleUploadedFile:
    buffer = BytesIO(PDF_BYTES + b"0" * (10 * 1024 * 1024))
    return SimpleUploadedFile("big.pdf", buffer.getvalue(), content_type="application/pdf")


@pytest.fixture
def facility(recycler_org):
    return FacilityFactory(organisation=recycler_org, name="Ganzhou Dismantling Works", province="CN-JX")


@pytest.fixture
def other_facility(other_recycler_org):
    return FacilityFactory(organisation=other_recycler_org, name="Foshan Storage Yard", province="CN-GD")


@pytest.fixture
def licence(facility):
    """Valid 2024-01-01 to 2026-06-30 (Asia/Shanghai), permitting every activity."""
    return LicenceFactory(facility=facility, number="JXHW-0001")
