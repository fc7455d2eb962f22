"""The checklist as a compliance report: signed canonical JSON for machines, a PDF for people.

JSON: RFC 8785 canonical JSON of `{"format": "voltrace.compliance-report/1", "generated_at", "language",
"thresholds", "checklist", "signature"}`: the thresholds in force and the checklist (scope,
organisation, facility, overall status, the five points with figures, findings, evidence links), signed
with the platform's Ed25519 log key (`custody.transparency.keys.sign_with_log_key`: `LOG_SIGNING_KEY`
under the key name `LOG_ORIGIN`, the key that signs checkpoints) by the rule every signed document
follows (`custody.signed_document`): the signature covers the RFC 8785 canonical bytes of the document
without `signature`. To verify, take the log key independently from `/api/v1/log/public-key` and call
`verify_report(document, vkey)` (standard library and `cryptography` underneath).

PDF: WeasyPrint from templates/compliance/report_pdf.html; Chinese renders with the embedded
WenQuanYi Micro Hei font (fonts-wqy-microhei). The PDF is for reading; the signed JSON is the record.
It is a few pages whatever the scope, so it renders within the request (label sheets, which grow
with the selection, go to a worker instead).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import get_language

from compliance import thresholds
from compliance.checklist import Checklist
from core.canonical import canonicalize
from custody.checkpoint import VerifierKey
from custody.signed_document import verify_document
from custody.transparency.keys import log_signer, sign_with_log_key

FORMAT = "voltrace.compliance-report/1"


def _thresholds() -> dict[str, Any]:
    return {
        name.lower(): value
        for name, value in vars(thresholds).items()
        if name.isupper() and isinstance(value, int | float) and not isinstance(value, bool)
    }


def report_body(checklist: Checklist) -> dict[str, Any]:
    """What the signature covers: the checklist, when it was generated, and the thresholds applied."""
    generated_at = timezone.now().isoformat().replace("+00:00", "Z")
    return {
        "format": FORMAT,
        "generated_at": generated_at,
        "language": get_language() or "en",
        "thresholds": _thresholds(),
        "checklist": checklist.as_dict(),
    }


def signed_report(checklist: Checklist) -> dict[str, Any]:
    """The report with its signature by the platform's log key."""
    return sign_with_log_key(report_body(checklist))


def report_json(checklist: Checklist) -> bytes:
    """The signed report as RFC 8785 canonical JSON bytes."""
    return canonicalize(signed_report(checklist))


def verify_report(document: Any, vkey: str | VerifierKey) -> None:
    """Raise `custody.signed_document.SignedDocumentError` unless `document` is a compliance report
    signed by the log key `vkey` and unchanged since."""
    verify_document(document, vkey, kind=FORMAT)


def report_pdf(checklist: Checklist) -> bytes:
    """The report as an A4 PDF in the reader's language, with the CJK font embedded."""
    from weasyprint import HTML  # heavy import, only where PDFs are made

    html = render_to_string(
        "compliance/report_pdf.html",
        {
            "checklist": checklist,
            "generated_at": timezone.now(),
            "vkey": log_signer().verifier.vkey,
            "language": get_language() or "en",
            "base_url": settings.PUBLIC_BASE_URL,
        },
    )
    return HTML(string=html).write_pdf()
