"""The master key: AES-256-GCM sealing of small secrets (source credentials, wrapped data keys).

It comes from ``MASTER_KEY`` (base64 of 32 bytes) or from ``VAR_DIR/keys/master.key``, generated
on first use with mode 0600. Sub-keys for other purposes (download-link MACs) are derived with
HKDF so the master key itself never signs or encrypts anything but sealed blobs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from functools import cache
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gdpr_vault.settings import get_settings

KEY_BYTES = 32
NONCE_BYTES = 12
SEAL_VERSION = b"\x01"


class MasterKeyError(RuntimeError):
    """The master key is missing, malformed, or a sealed blob does not open with it."""


def master_key_path() -> Path:
    return get_settings().keys_dir / "master.key"


def _decode(text: str, origin: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MasterKeyError(f"{origin} is not base64") from exc
    if len(key) != KEY_BYTES:
        raise MasterKeyError(f"{origin} must decode to {KEY_BYTES} bytes, not {len(key)}")
    return key


def _generate(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    key = os.urandom(KEY_BYTES)
    # O_EXCL: two processes starting together must not each write a different key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _decode(path.read_text(encoding="ascii"), str(path))
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(base64.b64encode(key).decode("ascii") + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return key


@cache
def master_key() -> bytes:
    settings = get_settings()
    if settings.master_key:
        return _decode(settings.master_key, "MASTER_KEY")
    path = master_key_path()
    if path.exists():
        return _decode(path.read_text(encoding="ascii"), str(path))
    return _generate(path)


def master_key_id() -> str:
    """A public fingerprint of the master key (first 16 hex of SHA-256 of an HKDF output)."""
    return hashlib.sha256(derive(b"gdpr-vault key id")).hexdigest()[:16]


def derive(info: bytes, length: int = KEY_BYTES) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(master_key())


def seal(plaintext: bytes, aad: bytes) -> str:
    """``v1 || nonce || ciphertext+tag``, base64; ``aad`` binds the blob to its row."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(master_key()).encrypt(nonce, plaintext, aad)
    return base64.b64encode(SEAL_VERSION + nonce + sealed).decode("ascii")


def unseal(blob: str, aad: bytes) -> bytes:
    raw = base64.b64decode(blob)
    if raw[:1] != SEAL_VERSION:
        raise MasterKeyError("unknown sealed-blob version")
    nonce, sealed = raw[1 : 1 + NONCE_BYTES], raw[1 + NONCE_BYTES :]
    try:
        return AESGCM(master_key()).decrypt(nonce, sealed, aad)
    except InvalidTag as exc:
        raise MasterKeyError("sealed blob does not open with this master key") from exc
