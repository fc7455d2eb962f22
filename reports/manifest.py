"""Signed report manifests (format voltrace.report-manifest/1), and their offline check.

    python -m reports.manifest MANIFEST.json --log-key KEY [--dir FOLDER]

A manifest names a report's files with their size and SHA-256 and is signed with the platform's log
key (the Ed25519 key that signs transparency-log checkpoints) by the rule every signed document follows
(`custody.signed_document`): the signature covers the RFC 8785 canonical bytes of the manifest without
its `signature` member. KEY is the log's C2SP verifier key (`<name>+<hex key ID>+<base64>`, published
with every checkpoint) or a file holding it; the check also reads each listed file from FOLDER (default:
the manifest's folder) and compares size and SHA-256. Exit status 0 when everything matches, 1 otherwise.

Only the standard library, `cryptography` and three pure modules (`core.canonical`, `custody.checkpoint`,
`custody.signed_document`) are imported: no Django, no database.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from custody.signed_document import SignedDocumentError, verify_document

FORMAT = "voltrace.report-manifest/1"


class ManifestError(ValueError):
    """The manifest is malformed, its signature does not verify, or a file does not match it."""


def verify_signature(manifest: dict[str, Any], log_key: str) -> None:
    """Raise ManifestError unless the manifest is signed by the log key given (a C2SP verifier key)."""
    try:
        verify_document(manifest, log_key, kind=FORMAT)
    except SignedDocumentError as problem:
        raise ManifestError(str(problem)) from None


def verify_files(manifest: dict[str, Any], folder: Path) -> int:
    """Raise ManifestError unless every listed file in `folder` has the listed size and SHA-256."""
    files = manifest.get("files")
    if not isinstance(files, list) or not files:
        raise ManifestError("the manifest lists no files")
    for entry in files:
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or Path(name).name != name:
            raise ManifestError(f"a file entry has no plain file name: {entry!r}")
        path = folder / name
        if not path.is_file():
            raise ManifestError(f"{name}: not found in {folder}")
        digest = hashlib.sha256()
        size = 0
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
        if size != entry.get("size"):
            raise ManifestError(f"{name}: {size} bytes, the manifest says {entry.get('size')}")
        if digest.hexdigest() != entry.get("sha256"):
            raise ManifestError(f"{name}: SHA-256 {digest.hexdigest()} differs from the manifest's")
    return len(files)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reports.manifest",
        description="Check a Voltrace report manifest's signature and the files it lists.",
    )
    parser.add_argument("manifest", help="the manifest file (JSON, format voltrace.report-manifest/1)")
    parser.add_argument("--log-key", required=True, help="the log's C2SP verifier key, or a file holding it")
    parser.add_argument("--dir", help="the folder holding the report's files (default: the manifest's)")
    arguments = parser.parse_args(argv)
    key = arguments.log_key
    if Path(key).is_file():
        key = Path(key).read_text(encoding="utf-8").strip()
    manifest_path = Path(arguments.manifest)
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if not isinstance(manifest, dict):
            raise ManifestError("the manifest is not a JSON object")
        verify_signature(manifest, key)
        count = verify_files(manifest, Path(arguments.dir) if arguments.dir else manifest_path.parent)
    except (OSError, json.JSONDecodeError, ManifestError) as problem:
        print(f"FAILED: {problem}", file=sys.stderr)
        return 1
    print(f"OK: signed by {manifest['signature']['key_name']}; {count} file(s) match their SHA-256 and size.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
