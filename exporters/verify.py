"""``verify_bag``: recompute everything a bag claims, and check who signed it.

Why our own verifier beside bagit-python: it also checks the DSSE signature and that the signed
subject is this very tag manifest, decodes ``%25`` in names as RFC 8493 requires, and reports the
first failing files in a form the service can store as evidence. It hashes files in parallel with
the same fixed-size buffers as the packer, so verifying costs about one read of the bag.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from exporters import bag
from exporters.paths import decode_manifest_path
from exporters.signing import (
    SignatureError,
    key_id,
    load_public_key,
    subject_digests,
    verify_envelope,
)
from exporters.streaming import thread_buffers

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

SignatureStatus = Literal["valid", "invalid", "unsigned", "unchecked"]
_LINE = re.compile(r"^([0-9a-fA-F]{64})[ \t]+\*?(.+)$")
_OWN_FILES = frozenset({bag.SIGNATURE})


@dataclass
class VerifyReport:
    path: str
    files_checked: int = 0
    bytes_checked: int = 0
    payload_oxum: str | None = None
    signature: SignatureStatus = "unsigned"
    key_id: str | None = None
    tagmanifest_sha256: str | None = None
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and self.signature != "invalid"

    def summary(self) -> str:
        signature = {
            "valid": f"signature valid (key {self.key_id})",
            "invalid": "signature INVALID",
            "unsigned": "unsigned",
            "unchecked": f"signed by key {self.key_id}, not checked (no --public-key given)",
        }[self.signature]
        head = "OK" if self.ok else "FAILED"
        return (
            f"{head}: {self.path}: {self.files_checked} payload files, {self.bytes_checked} bytes"
            f", Payload-Oxum {self.payload_oxum or '?'}; {signature}"
        )


def _sha256(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    view = thread_buffers()[0]
    size = 0
    with path.open("rb", buffering=0) as handle:
        while count := handle.readinto(view):
            digest.update(view[:count])
            size += count
    return digest.hexdigest(), size


def _read_manifest(root: Path, name: str, report: VerifyReport) -> list[tuple[str, str]]:
    try:
        text = (root / name).read_text(encoding="utf-8")
    except FileNotFoundError:
        report.failures.append(f"{name}: missing")
        return []
    except UnicodeDecodeError:
        report.failures.append(f"{name}: not UTF-8")
        return []
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _LINE.match(line)
        if match is None:
            report.failures.append(f"{name} line {number}: malformed")
            continue
        path = decode_manifest_path(match.group(2))
        if path.startswith("/") or ".." in path.split("/"):
            report.failures.append(f"{name} line {number}: unsafe path {path!r}")
            continue
        entries.append((path, match.group(1).lower()))
    return entries


def _check_entries(
    root: Path, entries: list[tuple[str, str]], report: VerifyReport, workers: int
) -> tuple[int, int]:
    def check(entry: tuple[str, str]) -> tuple[str, str | None, int]:
        path, expected = entry
        try:
            actual, size = _sha256(root / path)
        except FileNotFoundError:
            return path, "missing", 0
        except OSError as exc:
            return path, f"unreadable ({exc.strerror})", 0
        return path, None if actual == expected else "checksum mismatch", size

    count = total = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for path, problem, size in pool.map(check, entries):
            if problem:
                report.failures.append(f"{path}: {problem}")
            if problem != "missing":
                count += 1
                total += size
    return count, total


def _payload_files(root: Path) -> set[str]:
    found = set()
    data = root / "data"
    for dirpath, _dirnames, filenames in os.walk(data):
        for filename in filenames:
            full = os.path.join(dirpath, filename)
            found.add(os.path.relpath(full, root).replace(os.sep, "/"))
    return found


def _bag_info(root: Path) -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        text = (root / bag.BAG_INFO).read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return info
    label = None
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and label:
            info[label] += " " + line.strip()
        elif ":" in line:
            label, _sep, value = line.partition(":")
            label = label.strip()
            info[label] = value.strip()
    return info


def _as_keys(public_keys: Iterable[Ed25519PublicKey | bytes] | None) -> dict[str, Ed25519PublicKey]:
    keys: dict[str, Ed25519PublicKey] = {}
    for item in public_keys or ():
        key = load_public_key(item) if isinstance(item, bytes) else item
        keys[key_id(key)] = key
    return keys


def _check_signature(
    root: Path,
    report: VerifyReport,
    tagmanifest_sha256: str | None,
    keys: dict[str, Ed25519PublicKey],
) -> None:
    inside = root / bag.SIGNATURE
    beside = root.with_name(root.name + bag.ENVELOPE_SUFFIX)
    candidates = [p for p in (inside, beside) if p.is_file()]
    if not candidates:
        report.signature = "unsigned"
        if keys:
            # A caller who names a key wants to know the bag comes from its holder. Anyone can
            # edit bag-info.txt, recompute the tag manifest and delete the signature, so a
            # missing signature must fail here, not read as a harmless "unsigned".
            report.failures.append("no signature, but a public key was given")
        return
    if len(candidates) == 2 and inside.read_bytes() != beside.read_bytes():
        report.failures.append(f"{bag.SIGNATURE}: differs from {beside.name} beside the bag")
    try:
        envelope = json.loads(candidates[0].read_bytes())
        report.key_id = envelope["signatures"][0]["keyid"]
    except (ValueError, KeyError, IndexError, TypeError):
        report.signature = "invalid"
        report.failures.append(f"{candidates[0].name}: not a DSSE envelope")
        return
    if keys:
        try:
            statement = verify_envelope(envelope, keys)
        except SignatureError as exc:
            report.signature = "invalid"
            report.failures.append(f"{candidates[0].name}: {exc}")
            return
        report.signature = "valid"
    else:
        report.signature = "unchecked"
        try:
            statement = json.loads(base64.b64decode(envelope["payload"], validate=True))
        except (ValueError, KeyError, TypeError):
            report.failures.append(f"{candidates[0].name}: unreadable payload")
            return
    if statement.get("predicateType") != bag.PREDICATE_TYPE:
        report.failures.append(f"{candidates[0].name}: unexpected predicateType")
    digest = subject_digests(statement).get(bag.TAGMANIFEST)
    if digest is None or digest != tagmanifest_sha256:
        if report.signature == "valid":
            report.signature = "invalid"
        report.failures.append(f"{bag.TAGMANIFEST}: SHA-256 differs from the signed subject")


def verify_bag(
    path: str | os.PathLike[str],
    public_keys: Iterable[Ed25519PublicKey | bytes] | None = None,
    *,
    workers: int = 2,
) -> VerifyReport:
    """Check a local bag: every checksum, Payload-Oxum, completeness and the signature.

    ``public_keys`` are Ed25519 public keys (objects or PEM bytes): with one or more, the bag
    must carry a valid signature by one of them (an unsigned bag fails). Without them a signature
    is reported ``unchecked`` (its subject is still compared with the tag manifest) and an
    unsigned bag passes as ``unsigned``.
    """
    root = Path(path)
    report = VerifyReport(str(root))
    if not (root / "bagit.txt").is_file():
        report.failures.append("bagit.txt: missing (not a bag)")
        return report
    keys = _as_keys(public_keys)

    entries = _read_manifest(root, bag.MANIFEST, report)
    count, total = _check_entries(root, entries, report, workers)
    report.files_checked, report.bytes_checked = count, total
    if not (root / "data").is_dir():
        # RFC 8493 requires the payload directory even when empty; bagit-python refuses without.
        report.failures.append("data/: missing (RFC 8493 requires it, even with no payload)")
    listed = {p for p, _ in entries}
    for extra in sorted(_payload_files(root) - listed):
        report.failures.append(f"{extra}: in data/ but not in {bag.MANIFEST}")

    oxum = _bag_info(root).get("Payload-Oxum")
    report.payload_oxum = oxum
    actual_oxum = f"{total}.{count}"
    if oxum is None:
        report.failures.append(f"{bag.BAG_INFO}: no Payload-Oxum")
    elif oxum != actual_oxum:
        report.failures.append(f"{bag.BAG_INFO}: Payload-Oxum {oxum} but payload is {actual_oxum}")

    tagmanifest_sha256 = None
    if (root / bag.TAGMANIFEST).is_file():
        tagmanifest_sha256, _size = _sha256(root / bag.TAGMANIFEST)
        tag_entries = _read_manifest(root, bag.TAGMANIFEST, report)
        _check_entries(root, tag_entries, report, workers)
        for name, _digest in tag_entries:
            if name.startswith("data/") or name in _OWN_FILES:
                report.failures.append(f"{bag.TAGMANIFEST}: lists {name}, not a tag file")
    report.tagmanifest_sha256 = tagmanifest_sha256
    _check_signature(root, report, tagmanifest_sha256, keys)
    return report
