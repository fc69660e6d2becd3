"""``gdpr-vault verify FILE``: one offline check for every signed thing the product emits.

- a DSSE envelope (``*.dsse.json``, checkpoints, certificates): signature, and each subject
  that names a file lying beside it;
- any other file: its sidecar ``FILE.dsse.json`` must sign exactly that file's SHA-256;
- a directory: a BagIt export bag (delegated to ``exporters.verify``) when that is available.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from exporters.signing import (
    SignatureError,
    key_id,
    load_public_key,
    sha256_file,
    subject_digests,
    verify_envelope,
)


def load_keyring(public_key: Path | None) -> dict[str, Ed25519PublicKey]:
    """A PEM file, a /api/v1/keys JSON document, or by default the local service key."""
    if public_key is None:
        from gdpr_vault.evidence.keys import service_signing_key

        key = service_signing_key().public_key
        return {key_id(key): key}
    data = public_key.read_bytes()
    if data.lstrip().startswith(b"{"):
        keyring = {}
        for entry in json.loads(data)["keys"]:
            key = load_public_key(entry["public_key_pem"].encode())
            keyring[key_id(key)] = key
        return keyring
    key = load_public_key(data)
    return {key_id(key): key}


def _is_envelope(data: Any) -> bool:
    return isinstance(data, dict) and {"payloadType", "payload", "signatures"} <= set(data)


def verify_envelope_file(path: Path, keyring: dict[str, Ed25519PublicKey]) -> dict[str, Any]:
    envelope = json.loads(path.read_text(encoding="utf-8"))
    stmt = verify_envelope(envelope, keyring)
    checked, problems = [], []
    for name, digest in subject_digests(stmt).items():
        candidate = path.parent / Path(name).name
        if candidate.is_file():
            actual = sha256_file(candidate)
            checked.append(candidate.name)
            if actual != digest:
                problems.append(f"{candidate.name}: SHA-256 differs from the signed subject")
    return {
        "ok": not problems,
        "kind": "envelope",
        "predicate_type": stmt.get("predicateType"),
        "subjects": subject_digests(stmt),
        "files_checked": checked,
        "problems": problems,
        "statement": stmt,
    }


def verify_signed_file(path: Path, keyring: dict[str, Ed25519PublicKey]) -> dict[str, Any]:
    sidecar = path.with_name(path.name + ".dsse.json")
    if not sidecar.is_file():
        return {"ok": False, "error": f"{path.name} has no signature file {sidecar.name} beside it"}
    envelope = json.loads(sidecar.read_text(encoding="utf-8"))
    stmt = verify_envelope(envelope, keyring)
    digests = subject_digests(stmt)
    actual = sha256_file(path)
    ok = digests.get(path.name) == actual
    return {
        "ok": ok,
        "kind": "signed-file",
        "file": path.name,
        "sha256": actual,
        "predicate_type": stmt.get("predicateType"),
        "problems": [] if ok else [f"{path.name}: SHA-256 differs from the signed subject"],
        "statement": stmt,
    }


def verify_path(path: Path, public_key: Path | None = None) -> dict[str, Any]:
    if not path.exists():
        return {"ok": False, "error": f"{path} does not exist"}
    try:
        keyring = load_keyring(public_key)
        if path.is_dir():
            return _verify_bag(path, public_key)
        if path.suffix == ".json":
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, ValueError):
                data = None
            if _is_envelope(data):
                return verify_envelope_file(path, keyring)
        return verify_signed_file(path, keyring)
    except SignatureError as exc:
        return {"ok": False, "kind": "signature", "problems": [str(exc)]}
    except (OSError, ValueError, KeyError) as exc:
        return {"ok": False, "error": f"cannot read {path.name}: {exc}"}


def _verify_bag(path: Path, public_key: Path | None) -> dict[str, Any]:
    from exporters.verify import verify_bag  # the standalone library owns bag checks

    keyring = load_keyring(public_key)
    report = verify_bag(path, public_keys=keyring)
    return report.to_dict() if hasattr(report, "to_dict") else dict(report)
