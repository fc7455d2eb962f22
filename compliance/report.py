"""The checklist as a compliance report: signed canonical JSON for machines, a PDF for people.

JSON: `{"report": {...}, "signature": {...}}`, serialised as RFC 8785 canonical JSON. `report` holds
`format` ("voltrace.compliance-report/1"), `generated_at`, the thresholds in force and the checklist
(scope, organisation, facility, overall status, the five points with figures, findings, evidence
links). It is signed the way the transparency log signs its checkpoints: with the platform's Ed25519
log key (`custody.transparency.keys.log_signer`, `LOG_SIGNING_KEY` under the key name `LOG_ORIGIN`),
as a C2SP signed note whose text is

    voltrace.compliance-report/1
    sha256 <hex SHA-256 of the canonical bytes of "report">

`signature.note` is that signed note and `signature.vkey` the log's verifier key, also published at
`/api/v1/log/public-key`. To verify: canonicalise `report` (RFC 8785), hash it, compare with the note
text, and check the note with the log key obtained independently (e.g.
`custody.checkpoint.verify_note(note, [parse_vkey(vkey)])`, standard library and `cryptography` only).

PDF: WeasyPrint from templates/compliance/report_pdf.html; Chinese renders with the embedded
WenQuanYi Micro Hei font (fonts-wqy-microhei). The PDF is for reading; the signed JSON is the record.
It is a few pages whatever the scope, so it renders within the request (label sheets, which grow
with the selection, go to a worker instead).
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import get_language

from compliance import thresholds
from compliance.checklist import Checklist
from core.canonical import canonicalize
from custody.checkpoint import NoteError, parse_note, parse_vkey, verify_note
from custody.transparency.keys import log_signer

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


def note_text(digest_hex: str) -> str:
    """The text of the signed note for a report whose canonical bytes hash to `digest_hex`."""
    return f"{FORMAT}\nsha256 {digest_hex}\n"


def signed_report(checklist: Checklist) -> dict[str, Any]:
    """The report and its signature by the platform's log key."""
    body = report_body(checklist)
    digest = hashlib.sha256(canonicalize(body)).hexdigest()
    signer = log_signer()
    return {
        "report": body,
        "signature": {
            "alg": "Ed25519",
            "scheme": "c2sp-signed-note",
            "key_name": signer.name,
            "vkey": signer.verifier.vkey,
            "sha256": digest,
            "note": signer.sign(note_text(digest)),
        },
    }


def report_json(checklist: Checklist) -> bytes:
    """The signed report as RFC 8785 canonical JSON bytes."""
    return canonicalize(signed_report(checklist))


def verify_report(document: dict[str, Any], vkey: str) -> bool:
    """Whether `document` (a signed report) is intact and signed by the log key `vkey`."""
    try:
        digest = hashlib.sha256(canonicalize(document["report"])).hexdigest()
        note = parse_note(document["signature"]["note"])
        if note.text != note_text(digest):
            return False
        verify_note(note, [parse_vkey(vkey)])
    except (KeyError, TypeError, NoteError):
        return False
    return True


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
