"""Checking evidence files: PDF, PNG or JPEG by their first bytes, within a size limit, hashed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import PurePath

from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _

from core.errors import InvalidInput

MAX_EVIDENCE_BYTES = 10 * 1024 * 1024

# (magic prefix, content type, extensions a file of that type may carry)
_SIGNATURES: tuple[tuple[bytes, str, frozenset[str]], ...] = (
    (b"%PDF-", "application/pdf", frozenset({".pdf"})),
    (b"\x89PNG\r\n\x1a\n", "image/png", frozenset({".png"})),
    (b"\xff\xd8\xff", "image/jpeg", frozenset({".jpg", ".jpeg"})),
)


@dataclass(frozen=True)
class CheckedEvidence:
    sha256: str
    size: int
    content_type: str
    original_name: str


def check_evidence(upload: UploadedFile, *, field: str = "evidence") -> CheckedEvidence:
    """Refuse anything but a PDF, PNG or JPEG of at most 10 MB; return its SHA-256 and type."""
    name = PurePath(upload.name or "").name
    size = upload.size or 0
    if size > MAX_EVIDENCE_BYTES:
        raise InvalidInput(
            _("The evidence file is %(size)s bytes; the limit is %(limit)s bytes (10 MB).")
            % {"size": size, "limit": MAX_EVIDENCE_BYTES},
            code="EVIDENCE_TOO_LARGE",
            field=field,
        )
    if size == 0:
        raise InvalidInput(_("The evidence file is empty."), code="EVIDENCE_EMPTY", field=field)
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    extension = PurePath(name).suffix.lower()
    for magic, content_type, extensions in _SIGNATURES:
        if head.startswith(magic):
            if extension not in extensions:
                raise InvalidInput(
                    _("The file's content is %(type)s but its name ends in %(extension)s.")
                    % {"type": content_type, "extension": extension or _("nothing")},
                    code="EVIDENCE_TYPE_NOT_ALLOWED",
                    field=field,
                )
            digest = hashlib.sha256()
            for chunk in upload.chunks():
                digest.update(chunk)
            upload.seek(0)
            return CheckedEvidence(
                sha256=digest.hexdigest(), size=size, content_type=content_type, original_name=name[:255]
            )
    raise InvalidInput(
        _("Evidence must be a PDF, PNG or JPEG file; %(name)s is none of these.")
        % {"name": name or _("the file")},
        code="EVIDENCE_TYPE_NOT_ALLOWED",
        field=field,
    )
