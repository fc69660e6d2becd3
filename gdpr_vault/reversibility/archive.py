"""The export at rest: packed by ``exporters``, then kept only encrypted under the client's key.

``VAR_DIR/exports/<case>/attempt-<n>/`` holds, once an attempt is finished:

- ``export.tar.gvenc``: a tar of the signed BagIt bag, streamed through chunked AES-256-GCM
  (:mod:`gdpr_vault.crypto.stream`) under the client's data key; the plaintext bag is removed;
- ``manifest-sha256.txt.gvenc``: that attempt's manifest (it names files, so it is encrypted
  too), kept beside the earlier attempts' manifests;
- ``bag.dsse.json``: the bag's signature (no personal data: digests, case id, tenant value);
- ``export.json``: counts and digests, written last; its presence means "attempt finished".

Every step can be rerun after a crash: ``exporters.pack`` resumes from its journal, a finished
bag is reused, and a finished attempt is recognised by ``export.json``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import shutil
import tarfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from exporters import pack, verify_bag
from exporters.paths import decode_manifest_path
from gdpr_vault.crypto import master
from gdpr_vault.crypto.stream import EncryptingWriter, decrypt_chunks
from gdpr_vault.evidence.keys import service_signing_key
from gdpr_vault.settings import get_settings

ARCHIVE = "export.tar.gvenc"
MANIFEST = "manifest-sha256.txt.gvenc"
SIGNATURE = "bag.dsse.json"
SUMMARY = "export.json"


class ExportFailed(RuntimeError):
    pass


def exports_root() -> Path:
    return get_settings().var_dir / "exports"


def case_dir(case_id: str) -> Path:
    return exports_root() / case_id


def attempt_dir(case_id: str, attempt: int) -> Path:
    return case_dir(case_id) / f"attempt-{attempt}"


def bag_name(case_id: str, attempt: int) -> str:
    return f"{case_id}-export-{attempt}"


class _HashingFile:
    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._handle.write(data)
        self.sha256.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        self._handle.flush()


def _encrypt_file(
    target: Path, data_key: bytes, key_id: str, fill: Callable[[EncryptingWriter], None]
) -> tuple[str, int]:
    tmp = target.with_name(target.name + ".tmp")
    with tmp.open("wb") as raw:
        hashed = _HashingFile(raw)
        writer = EncryptingWriter(hashed, data_key, key_id)  # type: ignore[arg-type]
        fill(writer)
        writer.close()
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(tmp, target)
    return hashed.sha256.hexdigest(), hashed.size


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, sort_keys=True, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def manifest_paths(case_id: str, attempt: int, data_key: bytes) -> set[str]:
    """The payload paths an attempt's bag lists (its manifest, decrypted), percent-decoded."""
    text = b"".join(decrypt_chunks(attempt_dir(case_id, attempt) / MANIFEST, data_key))
    return {
        decode_manifest_path(line.partition("  ")[2])
        for line in text.decode("utf-8").splitlines()
        if line
    }


def read_summary(case_id: str, attempt: int) -> dict[str, Any] | None:
    path = attempt_dir(case_id, attempt) / SUMMARY
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def build_export(
    *,
    urls: list[str],
    tenant: str,
    case_id: str,
    attempt: int,
    contract_reference: str,
    created: datetime,
    data_key: bytes,
    data_key_id: str,
) -> dict[str, Any]:
    """Pack, check, encrypt, remove the plaintext; returns the summary (blocking)."""
    folder = attempt_dir(case_id, attempt)
    summary = read_summary(case_id, attempt)
    bag = folder / bag_name(case_id, attempt)
    if summary is not None:
        shutil.rmtree(bag, ignore_errors=True)
        return summary
    folder.mkdir(parents=True, exist_ok=True)
    settings = get_settings()
    key = service_signing_key()
    reused = 0
    if not (bag / "bagit.txt").is_file() or (bag / ".exporters-journal.jsonl").exists():
        result = pack(
            urls,
            str(bag),
            client=tenant,
            case_id=case_id,
            organization=settings.processor_name,
            contract=contract_reference,
            signing_key=key,
            workers=max(1, settings.export_workers),
            created=created,
        )
        reused = result.reused_files
    report = verify_bag(bag, [key.public_key])
    if not report.ok:
        raise ExportFailed("the packed bag does not verify: " + "; ".join(report.failures[:3]))

    def tar_bag(writer: EncryptingWriter) -> None:
        with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
            tar.add(bag, arcname=bag.name, recursive=True)

    archive_sha256, archive_bytes = _encrypt_file(folder / ARCHIVE, data_key, data_key_id, tar_bag)
    manifest = (bag / "manifest-sha256.txt").read_bytes()
    _encrypt_file(folder / MANIFEST, data_key, data_key_id, lambda w: w.write(manifest))
    shutil.copyfile(bag / "signature.dsse.json", folder / SIGNATURE)
    summary = {
        "case_id": case_id,
        "attempt": attempt,
        "bag": bag.name,
        "files": report.files_checked,
        "bytes": report.bytes_checked,
        "payload_oxum": report.payload_oxum,
        "tagmanifest_sha256": report.tagmanifest_sha256,
        "signature_keyid": key.keyid,
        "archive": ARCHIVE,
        "archive_sha256": archive_sha256,
        "archive_bytes": archive_bytes,
        "data_key_id": data_key_id,
        "reused_files": reused,
    }
    _write_json(folder / SUMMARY, summary)
    shutil.rmtree(bag)
    return summary


def archive_path(case_id: str, attempt: int) -> Path:
    return attempt_dir(case_id, attempt) / ARCHIVE


def decrypted_archive(case_id: str, attempt: int, data_key: bytes) -> Iterator[bytes]:
    """The plain tar, chunk by chunk, for a streaming download."""
    return decrypt_chunks(archive_path(case_id, attempt), data_key)


def erase_ciphertexts(case_id: str) -> int:
    """Remove the vault's encrypted copies (the key is gone anyway); keep signatures/summaries."""
    removed = 0
    folder = case_dir(case_id)
    if not folder.is_dir():
        return 0
    for path in sorted(folder.rglob("*")):
        if path.is_file() and (path.name.endswith(".gvenc") or path.name.endswith(".tmp")):
            path.unlink()
            removed += 1
    for path in sorted(folder.glob("attempt-*/*-export-*"), reverse=True):
        if path.is_dir():  # a plaintext bag left by a crashed attempt
            shutil.rmtree(path)
    return removed


# -- expiring download links ------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _link_key() -> bytes:
    return master.derive(b"gdpr-vault download link v1")


def make_link_token(case_id: str, client_id: str, attempt: int, expires_at: datetime) -> str:
    body = json.dumps(
        {"c": case_id, "k": client_id, "a": attempt, "e": int(expires_at.timestamp())},
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
    mac = hmac.new(_link_key(), body, hashlib.sha256).digest()
    return f"{_b64(body)}.{_b64(mac)}"


def read_link_token(token: str, case_id: str, client_id: str, now: datetime) -> int | str:
    """The attempt the link is for, or a reason string when it is not valid now."""
    try:
        body_text, mac_text = token.split(".", 1)
        body, mac = _unb64(body_text), _unb64(mac_text)
        data = json.loads(body)
    except (ValueError, TypeError):
        return "malformed download link"
    expected = hmac.new(_link_key(), body, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, expected):
        return "the download link's signature does not match"
    if data.get("c") != case_id or data.get("k") != client_id:
        return "the download link is for another case"
    if now.timestamp() > data.get("e", 0):
        return "the download link has expired; ask for a new one"
    return int(data["a"])
