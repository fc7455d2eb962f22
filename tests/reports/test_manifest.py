"""`python -m reports.manifest`: the offline check of a manifest's signature and files, no database."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from custody.checkpoint import NoteSigner
from custody.history.document import sign_history
from custody.signed_document import sign_document
from reports.manifest import FORMAT, ManifestError, main, verify_signature

CONTENT = b"code,status\nX,recycled\n"


def _signer(seed: int = 7) -> tuple[Ed25519PrivateKey, NoteSigner]:
    key = Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)
    return key, NoteSigner("voltrace.example/log", key)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "report.csv").write_bytes(CONTENT)
    key, signer = _signer()
    body = {
        "format": FORMAT,
        "files": [
            {"name": "report.csv", "size": len(CONTENT), "sha256": hashlib.sha256(CONTENT).hexdigest()}
        ],
    }
    manifest = sign_document(body, private_key=key, key=signer.verifier)
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "log.vkey").write_text(signer.verifier.vkey + "\n")
    return tmp_path


def _check(folder: Path, capsys, name: str = "manifest.json") -> tuple[int, str]:
    status = main([str(folder / name), "--log-key", str(folder / "log.vkey")])
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def test_a_signed_manifest_and_its_files_pass(folder, capsys):
    status, output = _check(folder, capsys)
    assert status == 0, output
    assert "OK: signed by voltrace.example/log; 1 file(s) match" in output


def test_a_changed_file_fails(folder, capsys):
    (folder / "report.csv").write_bytes(CONTENT + b"Y,recycled\n")
    status, output = _check(folder, capsys)
    assert status == 1
    assert "report.csv" in output


def test_a_manifest_signed_by_another_key_fails_by_name(folder, capsys):
    (folder / "log.vkey").write_text(_signer(8)[1].verifier.vkey)
    status, output = _check(folder, capsys)
    assert status == 1
    assert "FAILED: the document was signed by another key" in output


def test_another_kind_of_signed_document_is_no_manifest(folder, capsys):
    key, signer = _signer()
    history = sign_history({"soh": 87.5}, private_key=key, key=signer.verifier).document
    (folder / "history.json").write_text(json.dumps(history))
    status, output = _check(folder, capsys, "history.json")
    assert status == 1
    assert "not a 'voltrace.report-manifest/1'" in output
    with pytest.raises(ManifestError):
        verify_signature(history, signer.verifier.vkey)
