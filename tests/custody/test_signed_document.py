"""Documents signed with the log key: one rule for manifests, histories and compliance reports."""

from __future__ import annotations

import base64
import copy
import subprocess
import sys
from pathlib import Path

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from custody.checkpoint import NoteSigner
from custody.signed_document import SignedDocumentError, sign_document, signed_bytes, verify_document

ROOT = Path(__file__).resolve().parents[2]
KIND = "voltrace.example-document/1"
BODY = {"format": KIND, "items": [{"name": "a", "soh": 87.5}], "note": "电池"}


def _signer(seed: int = 7, name: str = "voltrace.example/log") -> tuple[Ed25519PrivateKey, NoteSigner]:
    key = Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)
    return key, NoteSigner(name, key)


def _signed(body=BODY, seed: int = 7) -> dict:
    key, signer = _signer(seed)
    return sign_document(body, private_key=key, key=signer.verifier)


def _failure(document, vkey=None, **kind) -> SignedDocumentError:
    with pytest.raises(SignedDocumentError) as failed:
        verify_document(document, vkey or _signer()[1].verifier, **kind)
    return failed.value


def test_a_signed_document_is_the_body_plus_a_signature_over_its_canonical_bytes():
    key, signer = _signer()
    document = _signed()
    assert {name: value for name, value in document.items() if name != "signature"} == BODY
    signature = document["signature"]
    assert signature == {
        "alg": "Ed25519",
        "key_name": "voltrace.example/log",
        "key_id": signer.verifier.key_id.hex(),
        "vkey": signer.verifier.vkey,
        "public_key_b64": base64.b64encode(signer.verifier.public_key).decode(),
        "value": signature["value"],
    }
    assert signed_bytes(document) == rfc8785.dumps(BODY)
    key.public_key().verify(base64.b64decode(signature["value"]), rfc8785.dumps(BODY))  # raises if wrong
    verify_document(document, signer.verifier.vkey)
    verify_document(document, signer.verifier, kind=KIND)
    assert BODY.get("signature") is None  # the body given is left as it was


def test_signing_needs_a_kind_an_unsigned_body_and_the_matching_key():
    key, signer = _signer()
    with pytest.raises(ValueError, match="format"):
        sign_document({"items": []}, private_key=key, key=signer.verifier)
    with pytest.raises(ValueError, match="already"):
        sign_document(_signed(), private_key=key, key=signer.verifier)
    with pytest.raises(ValueError, match="not the key of"):
        sign_document(BODY, private_key=key, key=_signer(8)[1].verifier)


@pytest.mark.parametrize(
    "change",
    [
        lambda document: document["items"][0].update(soh=97.5),
        lambda document: document.update(extra=True),
        lambda document: document.pop("note"),
        lambda document: document["signature"].update(
            value=_signed({**BODY, "note": "x"})["signature"]["value"]
        ),
    ],
    ids=["value changed", "member added", "member removed", "signature of another body"],
)
def test_a_changed_document_fails_on_its_signature(change):
    document = copy.deepcopy(_signed())
    change(document)
    assert _failure(document).code == "signature"


def test_a_document_signed_by_another_key_is_refused_by_name():
    problem = _failure(_signed(seed=8))
    assert problem.code == "other_key"
    assert "another key" in str(problem)
    assert _signer()[1].verifier.vkey in str(problem)


def test_claiming_the_trusted_key_does_not_help_a_signature_by_another():
    document = _signed(seed=8)
    document["signature"]["public_key_b64"] = _signed()["signature"]["public_key_b64"]
    assert _failure(document).code == "signature"


def test_a_stripped_signature_is_named():
    document = _signed()
    del document["signature"]
    problem = _failure(document)
    assert problem.code == "unsigned"
    assert "not signed" in str(problem)


def test_a_document_of_one_kind_is_not_accepted_as_another():
    manifest = _signed({**BODY, "format": "voltrace.report-manifest/1"})
    problem = _failure(manifest, kind="voltrace.bms-history/1")
    assert problem.code == "format"
    assert "voltrace.report-manifest/1" in str(problem)
    assert "voltrace.bms-history/1" in str(problem)
    relabelled = {**manifest, "format": "voltrace.bms-history/1"}  # the kind is signed too
    assert _failure(relabelled, kind="voltrace.bms-history/1").code == "signature"


@pytest.mark.parametrize(
    ("document", "code", "words"),
    [
        ([BODY], "malformed", "not a JSON object"),
        ({"items": []}, "malformed", "names no kind"),
        ({**BODY, "signature": "abc"}, "malformed", "not a JSON object"),
        ({**BODY, "signature": {"alg": "RS256"}}, "algorithm", "expected 'Ed25519'"),
        ({**BODY, "signature": {"alg": "Ed25519", "public_key_b64": "%%"}}, "malformed", "public_key_b64"),
    ],
)
def test_malformed_documents_say_what_is_wrong(document, code, words):
    problem = _failure(document)
    assert problem.code == code
    assert words in str(problem)


def test_a_short_signature_value_is_malformed():
    document = _signed()
    document["signature"]["value"] = base64.b64encode(b"short").decode()
    assert _failure(document).code == "malformed"


def test_the_key_given_must_be_a_verifier_key():
    problem = _failure(_signed(), "not a key")
    assert problem.code == "key"
    assert isinstance(problem, ValueError)


def test_the_rule_and_its_offline_users_load_without_django():
    script = (
        "import sys\n"
        "import custody.signed_document, custody.history.document, reports.manifest\n"
        "top = {name.split('.')[0] for name in sys.modules}\n"
        "loaded = sorted(top & {'django', 'rest_framework'})\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
