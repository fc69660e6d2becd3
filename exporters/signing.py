"""The product's one signed-document format: a DSSE envelope over an in-toto Statement v1.

Why this format: a DSSE envelope (https://github.com/secure-systems-lab/dsse) signs the exact
payload bytes with a pre-authentication encoding, so nothing about JSON canonicalisation can make
two verifiers disagree; an in-toto Statement names *what* is signed by its SHA-256 digest, so the
same envelope can vouch for a file, a manifest or a certificate. Anyone with the published Ed25519
public key can check a document offline with any DSSE implementation.

It lives in ``exporters`` (the standalone library) because a bag must be verifiable without the
service; ``gdpr_vault.evidence`` uses this module rather than a copy of it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

# ``cryptography`` is imported where a key is made, loaded or checked, not with this module:
# every ``pack`` imports it, and an unsigned export would pay a fifth of its start-up for it.

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"


class SignatureError(ValueError):
    """A document whose envelope, signature or subject does not check out."""


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 private key with the key id verifiers will look it up by."""

    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def keyid(self) -> str:
        return key_id(self.public_key)

    def public_pem(self) -> bytes:
        return public_key_pem(self.public_key)


def key_id(public_key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw public key: stable, short enough to print, independent of PEM layout."""
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def public_key_pem(public_key: Ed25519PublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def generate_key() -> SigningKey:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return SigningKey(Ed25519PrivateKey.generate())


def save_private_key(key: SigningKey, path: Path) -> None:
    """Write the key readable by its owner only; the directory is created if needed."""
    from cryptography.hazmat.primitives import serialization

    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(pem)
    tmp.chmod(0o600)
    tmp.replace(path)


def load_private_key(path: Path) -> SigningKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(f"{path} is not an Ed25519 private key")
    return SigningKey(key)


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise SignatureError("the public key is not an Ed25519 key")
    return key


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what is actually signed."""
    type_bytes = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(type_bytes), type_bytes, len(payload), payload)


def statement(
    subjects: Iterable[tuple[str, str]], predicate_type: str, predicate: Mapping[str, Any]
) -> dict[str, Any]:
    """An in-toto Statement v1; ``subjects`` are (name, sha256 hex) pairs."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": name, "digest": {"sha256": digest}} for name, digest in subjects],
        "predicateType": predicate_type,
        "predicate": dict(predicate),
    }


def sign_statement(key: SigningKey, stmt: Mapping[str, Any]) -> dict[str, Any]:
    payload = json.dumps(stmt, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    signature = key.private_key.sign(pae(PAYLOAD_TYPE, payload))
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode("ascii"),
        "signatures": [{"keyid": key.keyid, "sig": base64.b64encode(signature).decode("ascii")}],
    }


def sign(
    key: SigningKey,
    subjects: Iterable[tuple[str, str]],
    predicate_type: str,
    predicate: Mapping[str, Any],
) -> dict[str, Any]:
    return sign_statement(key, statement(subjects, predicate_type, predicate))


def verify_envelope(
    envelope: Mapping[str, Any], public_keys: Mapping[str, Ed25519PublicKey]
) -> dict[str, Any]:
    """Check one signature by a known key and return the Statement; raise SignatureError if not."""
    from cryptography.exceptions import InvalidSignature

    try:
        payload_type = envelope["payloadType"]
        payload = base64.b64decode(envelope["payload"], validate=True)
        signatures = envelope["signatures"]
    except (KeyError, TypeError, ValueError) as exc:
        raise SignatureError(f"not a DSSE envelope: {exc}") from exc
    if payload_type != PAYLOAD_TYPE:
        raise SignatureError(f"unexpected payloadType {payload_type!r}")
    message = pae(payload_type, payload)
    for entry in signatures:
        public_key = public_keys.get(entry.get("keyid", ""))
        if public_key is None:
            continue
        try:
            public_key.verify(base64.b64decode(entry["sig"], validate=True), message)
        except (InvalidSignature, ValueError, KeyError):
            continue
        try:
            stmt = json.loads(payload)
        except ValueError as exc:
            raise SignatureError("signed payload is not JSON") from exc
        if not isinstance(stmt, dict) or stmt.get("_type") != STATEMENT_TYPE:
            raise SignatureError("signed payload is not an in-toto Statement v1")
        return stmt
    known = ", ".join(sorted(public_keys)) or "none"
    raise SignatureError(f"no valid signature by a known key (known key ids: {known})")


def subject_digests(stmt: Mapping[str, Any]) -> dict[str, str]:
    return {s["name"]: s["digest"]["sha256"] for s in stmt.get("subject", [])}


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()
