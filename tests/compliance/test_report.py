"""The compliance report: its signature verifies with the log key, and the PDF embeds the CJK font."""

from __future__ import annotations

import base64
import copy
import json
import zlib

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.utils import translation

from compliance import report, selectors
from custody.checkpoint import NoteSigner
from custody.signed_document import SignedDocumentError
from custody.transparency.keys import sign_with_log_key
from tests.factories import OrganisationFactory, licensed_facility

pytestmark = pytest.mark.django_db


@pytest.fixture
def checklist(recycler_org):
    licensed_facility(recycler_org)
    return selectors.checklist_for_organisation(organisation=recycler_org)


def log_vkey(client):
    """The verifier key as the log publishes it (obtained independently of the report)."""
    return client.get("/api/v1/log/public-key").json()["vkey"]


def test_report_signature_verifies_with_the_published_log_key(client, checklist):
    document = json.loads(report.report_json(checklist))
    vkey = log_vkey(client)
    assert document["format"] == "voltrace.compliance-report/1"
    assert [point["number"] for point in document["checklist"]["points"]] == [1, 2, 3, 4, 5]
    assert document["signature"]["vkey"] == vkey
    report.verify_report(document, vkey)  # raises if changed or signed by another key


def test_the_signature_covers_the_report_without_its_signature(client, checklist):
    document = json.loads(report.report_json(checklist))
    signature = document.pop("signature")
    public_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(signature["public_key_b64"]))
    assert signature["public_key_b64"] == client.get("/api/v1/log/public-key").json()["public_key"]
    public_key.verify(base64.b64decode(signature["value"]), rfc8785.dumps(document))  # raises if wrong


def test_report_signature_fails_when_a_colour_is_changed(client, checklist):
    document = json.loads(report.report_json(checklist))
    tampered = copy.deepcopy(document)
    point = tampered["checklist"]["points"][0]
    point["status"] = "green" if point["status"] != "green" else "red"
    with pytest.raises(SignedDocumentError) as failed:
        report.verify_report(tampered, log_vkey(client))
    assert failed.value.code == "signature"


def test_report_signature_fails_with_another_key(client, checklist):
    document = json.loads(report.report_json(checklist))
    other = NoteSigner(document["signature"]["key_name"], Ed25519PrivateKey.generate())
    with pytest.raises(SignedDocumentError) as failed:
        report.verify_report(document, other.verifier.vkey)
    assert failed.value.code == "other_key"


def test_another_signed_document_is_not_a_compliance_report(client, checklist):
    manifest = sign_with_log_key({"format": "voltrace.report-manifest/1", "files": []})
    with pytest.raises(SignedDocumentError) as failed:
        report.verify_report(manifest, log_vkey(client))
    assert failed.value.code == "format"


def test_report_json_carries_the_thresholds_and_generation_time(checklist):
    body = json.loads(report.report_json(checklist))
    assert body["generated_at"].endswith("Z")
    assert body["thresholds"]["verified_share_green_pct"] == 99.0
    assert body["thresholds"]["activity_window_days"] == 90


def _pdf_chunks(pdf: bytes) -> list[bytes]:
    """The PDF's bytes and each of its streams decompressed (fonts sit in compressed object streams)."""
    chunks = [pdf]
    for raw in pdf.split(b"stream")[1:]:
        body = raw.split(b"endstream")[0].strip(b"\r\n")
        try:
            chunks.append(zlib.decompress(body))
        except zlib.error:
            continue
    return chunks


def test_pdf_report_renders_chinese_with_the_cjk_font_embedded(regulator):
    organisation = OrganisationFactory(name="赣州绿色循环再生资源有限公司", kind="recycler", country="CN")
    licensed_facility(organisation, name="赣州拆解厂")
    checklist = selectors.checklist_for_organisation(organisation=organisation)
    with translation.override("zh-hans"):
        pdf = report.report_pdf(checklist)
    assert pdf.startswith(b"%PDF-")
    chunks = _pdf_chunks(pdf)
    fonts = {
        part.split()[0].lstrip(b"/").decode("latin-1")
        for chunk in chunks
        for part in chunk.split(b"/BaseFont")[1:]
    }
    assert any("WenQuanYi" in name for name in fonts), fonts
    assert any(b"/FontFile2" in chunk for chunk in chunks)  # embedded, not merely named
