"""Chunked AES-256-GCM for large files: the "GVENC" format of encrypted exports at rest.

Layout (all integers big-endian)::

    header  = b"GVENC\\x00\\x01\\n" (8) | chunk_size u32 | key_id_len u8 | key_id (ASCII)
              | salt (32 random bytes)
    chunks  = ciphertext(chunk_i) || tag (16), plaintext chunk_size bytes each, the last shorter
              (possibly empty)

The file key is ``HKDF-SHA256(data_key, salt, info=b"gdpr-vault GVENC v1")``, so two files never
share a (key, nonce) pair. The nonce of chunk ``i`` is ``i`` on 11 bytes followed by one byte that
is 1 for the last chunk and 0 otherwise, and every chunk authenticates the whole header as
associated data: chunks cannot be reordered, dropped, truncated at a chunk boundary or moved to
another file without the decryption failing (the STREAM construction of Hoang, Reyhanitabar,
Rogaway and Vizár, 2015). Memory stays at one chunk whatever the file size.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"GVENC\x00\x01\n"
CHUNK_SIZE = 1 << 20
TAG_BYTES = 16
SALT_BYTES = 32


class DecryptionError(ValueError):
    """The file is not GVENC, was altered, truncated, or the key is not the right one."""


def _file_key(data_key: bytes, salt: bytes) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"gdpr-vault GVENC v1")
    return AESGCM(key.derive(data_key))


def _nonce(index: int, last: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def _header(key_id: str, salt: bytes, chunk_size: int) -> bytes:
    kid = key_id.encode("ascii")
    return MAGIC + struct.pack(">IB", chunk_size, len(kid)) + kid + salt


class EncryptingWriter:
    """A write-only binary file object: ``tarfile`` streams into it, it writes GVENC out."""

    def __init__(
        self, out: BinaryIO, data_key: bytes, key_id: str, chunk_size: int = CHUNK_SIZE
    ) -> None:
        salt = os.urandom(SALT_BYTES)
        self._out = out
        self._aad = _header(key_id, salt, chunk_size)
        self._aead = _file_key(data_key, salt)
        self._chunk_size = chunk_size
        self._buffer = bytearray()
        self._index = 0
        self._closed = False
        self.plaintext_bytes = 0
        out.write(self._aad)

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:
        if self._closed:
            raise ValueError("write to a finished GVENC stream")
        self._buffer += data
        self.plaintext_bytes += len(data)
        # Keep at least one byte back: the final chunk must be the one written by close().
        while len(self._buffer) > self._chunk_size:
            self._emit(bytes(self._buffer[: self._chunk_size]), last=False)
            del self._buffer[: self._chunk_size]
        return len(data)

    def _emit(self, chunk: bytes, *, last: bool) -> None:
        self._out.write(self._aead.encrypt(_nonce(self._index, last), chunk, self._aad))
        self._index += 1

    def flush(self) -> None:
        self._out.flush()

    def close(self) -> None:
        """Write the final chunk; the underlying file stays open (the caller owns it)."""
        if not self._closed:
            self._emit(bytes(self._buffer), last=True)
            self._buffer.clear()
            self._closed = True
            self._out.flush()


def read_key_id(path: Path) -> str:
    with path.open("rb") as handle:
        return _read_header(handle)[1]


def _read_header(handle: BinaryIO) -> tuple[bytes, str, int]:
    fixed = handle.read(len(MAGIC) + 5)
    if len(fixed) < len(MAGIC) + 5 or fixed[: len(MAGIC)] != MAGIC:
        raise DecryptionError("not a GVENC file")
    chunk_size, kid_len = struct.unpack(">IB", fixed[len(MAGIC) :])
    kid = handle.read(kid_len)
    salt = handle.read(SALT_BYTES)
    if len(kid) != kid_len or len(salt) != SALT_BYTES or not 1 <= chunk_size <= 1 << 26:
        raise DecryptionError("truncated or malformed GVENC header")
    return fixed + kid + salt, kid.decode("ascii"), chunk_size


def decrypt_chunks(path: Path, data_key: bytes) -> Iterator[bytes]:
    """Plaintext, one chunk at a time; raises :class:`DecryptionError` on any tampering.

    A chunk is only yielded once authenticated, and a stream whose last authenticated chunk is
    not flagged final raises, so a consumer never mistakes a truncated file for a whole one.
    """
    with path.open("rb") as handle:
        aad, _kid, chunk_size = _read_header(handle)
        aead = _file_key(data_key, aad[-SALT_BYTES:])
        index = 0
        sealed = handle.read(chunk_size + TAG_BYTES)
        while True:
            following = handle.read(chunk_size + TAG_BYTES)
            last = not following
            if len(sealed) < TAG_BYTES:
                raise DecryptionError("truncated GVENC stream")
            try:
                plain = aead.decrypt(_nonce(index, last), sealed, aad)
            except InvalidTag as exc:
                raise DecryptionError(
                    f"chunk {index} does not authenticate (wrong key, altered or truncated file)"
                ) from exc
            if plain:
                yield plain
            if last:
                return
            index += 1
            sealed = following


def decrypt_to(path: Path, data_key: bytes, out: BinaryIO) -> int:
    total = 0
    for chunk in decrypt_chunks(path, data_key):
        out.write(chunk)
        total += len(chunk)
    return total
